"""RESOLVE through Snakemake on the tiny config: the simulated field, the real HD 142527 data, the network guard."""

import os

import numpy as np
import pytest
import yaml
from astropy.table import Table

from conftest import ROOT, raw_tiny, run_snakemake
from workflow_lib import fitsio

HD142 = ROOT.parent / "shared" / "data" / "alma" / "hd142_b9cont_self_tav.ms"
RESOLVE_TINY = {"sky": {"offset": 26.0}, "noise": {"model": "scale"}, "response": {"mode": "psf"},
                "inference": {"schedule": [
                    {"iterations": 1, "samples": 1, "learn_noise": False, "kl_iterations": 5,
                     "sampling_iterations": 30},
                    {"iterations": 1, "samples": 1, "kl_iterations": 5, "sampling_iterations": 30}]}}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """tiny.yaml plus HD 142527 on a small grid and an archive run that must stay offline."""
    cfg = raw_tiny()
    cfg["resolve"]["runs"]["hd142527"] = {
        "enabled": True, "data": {"path": os.path.relpath(HD142, ROOT), "optional": False},
        "image": {"npix": 64, "cell_arcsec": 0.08},
        "compare": {"methods": ["hogbom_natural"], "npix": 256, "cell_arcsec": 0.04, "niter": 300,
                    "threshold_mjy": 20.0, "radii_arcsec": [1.0, 2.0]},
        **RESOLVE_TINY}
    # the tiny continuum field (12.8 arcsec) as a three-pointing mosaic, imaged by tCLEAN and RESOLVE
    cfg["mosaic"] = {"pointings_arcsec": [[0, 0], [4, 0], [-2, 3.464]], "npix": 64, "cell_arcsec": 0.2}
    cfg["resolve"]["runs"]["mosaic"] = {
        "data": {"simulated": "mosaic", "mosaic": True}, "image": {"npix": 64, "cell_arcsec": 0.2},
        "response": {"mode": "exact", "epsilon": 1.0e-5}, "compare": {"methods": ["hogbom_natural"]},
        "inference": cfg["resolve"]["runs"]["continuum"]["inference"]}
    # the demo's decrement field, imaged with a signed sky on a coarse grid
    cfg["resolve"]["runs"]["decrement"] = {
        "data": {"simulated": "decrement"}, "image": {"npix": 96, "cell_arcsec": 0.25},
        "sky": {"offset": 18.0, "absorption": {"enabled": True}}, "response": {"mode": "psf"},
        "compare": {"methods": ["hogbom_natural"], "emission_fraction": 0.05},
        "inference": {"schedule": [
            {"iterations": 2, "samples": 1, "learn_noise": False, "kl_iterations": 15, "sampling_iterations": 60},
            {"iterations": 2, "samples": 1, "kl_iterations": 15, "sampling_iterations": 60}]}}
    cfg["resolve"]["runs"]["sz114"] = {
        "data": {"url": "https://example.invalid/Sz114_continuum.ms.tgz", "member": "Sz114_continuum.ms",
                 "spws": [9], "average_channels": True},
        "image": {"npix": 64, "cell_arcsec": 0.01}}
    path = tmp_path_factory.mktemp("config") / "resolve.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, config):
    workdir = tmp_path_factory.mktemp("resolve_workflow")
    targets = [f"results/tiny/tables/{t}.md" for t in ("resolve_continuum_peak_flux", "resolve_hd142527_flux",
                                                          "resolve_mosaic_peak_flux", "resolve_decrement_flux")]
    result = run_snakemake(workdir, *targets, configfile=config)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "RESOLVE runs sz114 skipped" in result.stderr
    return workdir


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_products_of_the_simulated_field(run):
    out = run / "results" / "tiny" / "continuum" / "resolve"
    mean, header = fitsio.read_cube(out / "mean.fits")
    std, _ = fitsio.read_cube(out / "std.fits")
    grid = fitsio.Grid.from_header(header)
    assert (grid.nx, grid.cell_arcsec) == (64, pytest.approx(0.2))
    assert (grid.ra_deg, grid.dec_deg) == pytest.approx((239.1746, -35.0))
    assert header["BUNIT"] == "Jy/pixel" and "PARHASH" in header
    assert np.all(mean > 0) and np.all(std > 0)
    # the brightest pixel is component A at the phase centre
    y, x = np.unravel_index(np.argmax(mean[0]), mean[0].shape)
    assert abs(x - 32) <= 1 and abs(y - 32) <= 1
    for name in ("relative_std.fits", "samples.h5", "power_spectrum.png", "power_spectrum.pdf", "history.png"):
        assert (out / name).is_file()
    power = Table.read(out / "power_spectrum.csv")
    assert power["k_lambda"][0] == 0 and np.all(np.diff(power["k_lambda"]) > 0) and "sample_1" in power.colnames
    hyper = Table.read(out / "hyperparameters.csv")
    assert list(hyper["parameter"][1:4]) == ["zero mode", "fluctuations", "slope"]
    assert "noise scale (spw 0)" in list(hyper["parameter"])
    history = Table.read(out / "history.csv")
    assert list(history["iteration"]) == [0, 1] and np.all(np.isfinite(history["energy"]))
    assert not (out / ".state").exists()   # removed once the products are written

    tables = run / "results" / "tiny" / "tables"
    peaks = Table.read(tables / "resolve_continuum_peak_flux.csv")
    assert list(peaks["component"]) == ["A", "B"]
    assert np.all(peaks["resolve_hogbom_natural_ratio"] > 0.5)
    calibration = Table.read(tables / "resolve_calibration.csv")
    assert list(calibration["within_sigma"]) == [1, 2] and np.all(calibration["pixels"] > 0)
    assert (run / "results" / "tiny" / "figures" / "resolve_continuum.png").is_file()


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_the_simulated_mosaic_is_one_sky_for_tclean_and_resolve(run):
    results = run / "results" / "tiny"
    log = (results / "logs" / "resolve" / "mosaic.log").read_text()
    assert "mosaic of 3 pointings" in log
    _, header = fitsio.read_cube(results / "mosaic" / "images" / "hogbom_natural.image.fits")
    assert "gridder" in "".join(header["HISTORY"]) and '"mosaic"' in "".join(header["HISTORY"])
    mean, header = fitsio.read_cube(results / "mosaic" / "resolve" / "mean.fits")
    assert fitsio.Grid.from_header(header).nx == 64
    peaks = Table.read(results / "tables" / "resolve_mosaic_peak_flux.csv")
    assert list(peaks["component"]) == ["A", "B"]
    assert np.all(peaks["resolve_hogbom_natural_ratio"] > 0.5) and np.all(peaks["hogbom_natural_ratio"] > 0.5)
    title = (results / "tables" / "resolve_mosaic_peak_flux.md").read_text().splitlines()[0]
    assert "Mosaic of the continuum field (3 pointings)" in title
    calibration = Table.read(results / "tables" / "resolve_mosaic_calibration.csv")
    assert np.all(calibration["pixels"] > 0)
    assert (results / "figures" / "resolve_mosaic.png").is_file()
    assert not (results / "mosaic" / "sim.ms").exists()   # temporary, like the continuum field's


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_the_decrement_field_is_imaged_with_a_signed_sky(run):
    results = run / "results" / "tiny"
    table = Table.read(results / "tables" / "resolve_decrement_flux.csv")
    assert list(table["component"]) == ["SZ", "P1", "P2"]
    sz = table[table["component"] == "SZ"][0]
    assert sz["model_hogbom_natural_mjy"] < 0 and sz["hogbom_natural_mjy"] < 0
    assert sz["resolve_hogbom_natural_mjy"] < 0.5 * sz["model_hogbom_natural_mjy"]   # RESOLVE holds it
    mean, _ = fitsio.read_cube(results / "decrement" / "resolve" / "mean.fits")
    assert mean.min() < 0 < mean.max()
    hyper = Table.read(results / "decrement" / "resolve" / "hyperparameters.csv")
    assert "sky.absorption.offset (data-driven)" in list(hyper["parameter"])
    assert any(p.startswith("absorption fluctuations") for p in hyper["parameter"])
    assert (results / "figures" / "resolve_decrement.png").is_file()


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_real_data_is_copied_imaged_and_tabulated(run):
    copy = run / "resources" / "hd142527.ms"
    assert (copy / "table.dat").is_file() and os.access(copy / "table.dat", os.W_OK)
    table = Table.read(run / "results" / "tiny" / "tables" / "resolve_hd142527_flux.csv")
    assert list(table["method"]) == ["tCLEAN hogbom_natural", "RESOLVE"]
    assert np.all(table["flux_r2_jy"] >= table["flux_r1_jy"]) and np.all(table["flux_r1_jy"] > 0.5)
    assert table["peak_std"][1] > 0
    uv = Table.read(run / "results" / "tiny" / "tables" / "resolve_hd142527_uv.csv")
    assert len(uv) == 8 and np.all(np.diff(uv["uv_min_klambda"]) > 0)
    # both models fit the data at the sampled uv points far better than nothing would at the short baselines
    fit = Table.read(run / "results" / "tiny" / "hd142527" / "resolve" / "fit.csv")
    empty = fit["reduced_chi2_empty_image"][fit["selection"] == "uv bin 0"][0]
    assert uv["tclean_hogbom_natural_chi2"][0] < empty and uv["resolve_chi2"][0] < empty
    assert uv["resolve_chi2"][0] == pytest.approx(fit["reduced_chi2"][fit["selection"] == "uv bin 0"][0], rel=1e-4)
    hyper = Table.read(run / "results" / "tiny" / "hd142527" / "resolve" / "hyperparameters.csv")
    scales = [r["posterior_mean"] for r in hyper if r["parameter"].startswith("noise scale")]
    assert len(scales) == 3 and all(s > 1 for s in scales)   # the delivered Band 9 weights are too optimistic


def test_archive_runs_refuse_the_network_when_it_is_off(tmp_path, config):
    result = run_snakemake(tmp_path, "resources/sz114.ms", configfile=config)
    assert result.returncode != 0
    log = (tmp_path / "results" / "tiny" / "logs" / "resolve_data" / "sz114.log").read_text()
    assert "the network is off" in log and "network=true" in log and "example.invalid" in log


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_a_uvfits_run_is_imported_into_resources(tmp_path):
    """A run whose data is a uvfits file: rule resolve_data imports it (CASA importuvfits) into resources/."""
    from workflow_lib.casa import casa
    from workflow_lib.resolve import observation

    uvfits = tmp_path / "disk.uvfits"
    casa(str(tmp_path / "casa.log")).tasks.exportuvfits(vis=str(HD142), fitsfile=str(uvfits), datacolumn="data",
                                                         combinespw=True, padwithflags=True)
    cfg = raw_tiny()
    cfg["resolve"]["runs"]["disk"] = {"data": {"uvfits": str(uvfits)}}
    overlay = tmp_path / "uvfits.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    result = run_snakemake(tmp_path, "resources/disk.ms", configfile=overlay)
    assert result.returncode == 0, result.stderr[-3000:]
    assert observation.read(tmp_path / "resources" / "disk.ms").nvis == observation.read(HD142).nvis
    assert "imported" in (tmp_path / "results" / "tiny" / "logs" / "resolve_data" / "disk.log").read_text()


def test_a_mosaic_measurement_set_runs_by_configuration_only(tmp_path):
    """Anyone's mosaic: a run with ``data: {path, mosaic: true}`` is imaged by tCLEAN (gridder mosaic) and RESOLVE
    and compared at the sampled uv points, where tCLEAN's model (the sky, seen through each pointing's beam)
    and RESOLVE's posterior both fit better than an empty image."""
    from test_resolve_mosaic import MODEL_CELL, MODEL_NPIX, OBSERVATION, radec, truth

    from workflow_lib.simulate.casa_backend import simobserve
    from workflow_lib.simulate.noise import add_thermal_noise

    grid = fitsio.Grid(nx=MODEL_NPIX, ny=MODEL_NPIX, cell_arcsec=MODEL_CELL, ra_deg=239.1746, dec_deg=-35.0,
                       freq0_hz=230e9, dfreq_hz=2e9, nchan=1)
    fitsio.write_cube(tmp_path / "sky.fits", truth(), grid.header("Jy/pixel"), params={})
    ms = simobserve(str(tmp_path / "sky.fits"), str(tmp_path / "mosaic.ms"), OBSERVATION, str(tmp_path / "casa.log"),
                    pointings=[radec(0, 0), radec(10, 0), radec(0, 10)])
    add_thermal_noise(str(ms), {"rms_jy_per_beam": 2e-4}, np.random.default_rng(1), 128, 0.4)
    cfg = raw_tiny()
    cfg["resolve"]["runs"]["field3"] = {
        "data": {"path": str(ms), "mosaic": True}, "image": {"npix": 96, "cell_arcsec": 0.4},
        "compare": {"methods": ["hogbom_natural"], "npix": 96, "cell_arcsec": 0.4, "niter": 300,
                    "threshold_mjy": 1.0, "radii_arcsec": [3.0, 20.0]},
        **RESOLVE_TINY, "sky": {"offset": 19.0},
        "inference": {"schedule": [   # long enough to fit: the divergence check stops a shorter one
            {"iterations": 2, "samples": 1, "learn_noise": False, "kl_iterations": 15, "sampling_iterations": 60},
            {"iterations": 2, "samples": 1, "kl_iterations": 15, "sampling_iterations": 60}]}}
    overlay = tmp_path / "mosaic.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    result = run_snakemake(tmp_path, "results/tiny/tables/resolve_field3_uv.md", configfile=overlay)
    assert result.returncode == 0, result.stderr[-5000:]
    tables = tmp_path / "results" / "tiny" / "tables"
    assert list(Table.read(tables / "resolve_field3_flux.csv")["method"]) == ["tCLEAN hogbom_natural", "RESOLVE"]
    uv = Table.read(tables / "resolve_field3_uv.csv")
    # at the shortest baselines RESOLVE's azimuthal profile follows the data's (the flux on the largest
    # scales the data constrain)
    assert uv["resolve_re_jy"][0] == pytest.approx(uv["data_re_jy"][0], rel=0.1)
    fit = Table.read(tmp_path / "results" / "tiny" / "field3" / "resolve" / "fit.csv")
    empty = fit["reduced_chi2_empty_image"][fit["selection"] == "uv bin 0"][0]
    assert uv["tclean_hogbom_natural_chi2"][0] < empty and uv["resolve_chi2"][0] < empty
    assert "mosaic of 3 pointings" in (tmp_path / "results" / "tiny" / "logs" / "resolve" / "field3.log").read_text()


def test_a_cube_measurement_set_runs_by_configuration_only(tmp_path):
    """Anyone's line cube: ``data: {path, cube: true}`` gives RESOLVE mean and std cubes with the channels'
    spectral WCS and the spectral hyperparameters; the run's targets hold no tCLEAN comparison (not built)."""
    from test_resolve_cube import DF, F0, NCHAN, OBSERVATION, truth
    from workflow_lib.simulate.casa_backend import simobserve
    from workflow_lib.simulate.noise import add_thermal_noise

    grid = fitsio.Grid(nx=48, ny=48, cell_arcsec=0.4, ra_deg=239.1746, dec_deg=-35.0, freq0_hz=F0, dfreq_hz=DF,
                       nchan=NCHAN)
    fitsio.write_cube(tmp_path / "sky.fits", truth(), grid.header("Jy/pixel"), params={})
    ms = simobserve(str(tmp_path / "sky.fits"), str(tmp_path / "cube.ms"), OBSERVATION, str(tmp_path / "casa.log"))
    add_thermal_noise(str(ms), {"rms_jy_per_beam": 2e-3}, np.random.default_rng(1), 48, 0.4)
    cfg = raw_tiny()
    cfg["resolve"]["runs"]["lines"] = {
        "data": {"path": str(ms), "cube": True}, "image": {"npix": 48, "cell_arcsec": 0.4},
        **RESOLVE_TINY, "sky": {"offset": 18.0, "fluctuations": [1.5, 0.5], "slope": [-3.0, 0.5]},
        "inference": {"schedule": [
            {"iterations": 2, "samples": 1, "learn_noise": False, "kl_iterations": 15, "sampling_iterations": 60},
            {"iterations": 2, "samples": 1, "kl_iterations": 15, "sampling_iterations": 60}]}}
    overlay = tmp_path / "cube.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    products = tmp_path / "results" / "tiny" / "lines" / "resolve"
    result = run_snakemake(tmp_path, str(products.relative_to(tmp_path) / "mean.fits"), configfile=overlay)
    assert result.returncode == 0, result.stderr[-5000:]
    for name in ("mean", "std"):
        cube, header = fitsio.read_cube(products / f"{name}.fits")
        assert cube.shape == (NCHAN, 48, 48)
        assert (header["CTYPE3"], header["CRVAL3"], header["CDELT3"]) == ("FREQ", F0, DF)
    hyper = Table.read(products / "hyperparameters.csv")
    assert {"spectral fluctuations", "spectral slope", "fluctuations"} <= set(hyper["parameter"])
    # the brightest channel of the first source's line is the brightest plane of the mean
    mean, _ = fitsio.read_cube(products / "mean.fits")
    assert int(np.argmax(mean.sum(axis=(1, 2)))) in (4, 5, 6, 7)
    # the default targets: the cube's products and no tCLEAN image or disk table of it
    dry = run_snakemake(tmp_path, "-n", configfile=overlay)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "observed=lines" not in dry.stdout and "resolve_lines_flux" not in dry.stdout
