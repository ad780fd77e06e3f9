"""The alma-imaging console commands on tiny data: their products, and one-line errors on bad input."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.table import Table

from conftest import ROOT
from workflow_lib import fitsio

HD142 = ROOT.parent / "shared" / "data" / "alma" / "hd142_b9cont_self_tav.ms"
ALMA_IMAGING = Path(sys.executable).with_name("alma-imaging")


def cli(*args):
    """Run the installed console command (as a user would) and return the completed process."""
    return subprocess.run([str(ALMA_IMAGING), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def one_line_error(result, command, text):
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"alma-imaging {command}: error:")]
    assert len(lines) == 1 and text in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_help_lists_every_command():
    result = cli("--help")
    assert result.returncode == 0
    for command in ("deepfocus", "resolve", "tclean", "check-dataset"):
        assert command in result.stdout


def test_deepfocus_on_a_casa_cube(tiny_run, tmp_path):
    """The trained tiny models on the CASA-made dirty cube (64 x 64 x 24, larger than the 32 x 32 x 16 training
    cubes, so it is tiled): the catalogue, model and continuum carry the cube's WCS."""
    cube = tiny_run / "cubes" / "cube_0000" / "images" / "dirty.image.fits"
    result = cli("deepfocus", cube, "--models", tiny_run / "deepfocus" / "models", "--out", tmp_path / "found",
                 "--config", ROOT / "tests" / "data" / "tiny.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    catalogue = Table.read(tmp_path / "found" / "catalogue.ecsv")
    assert f"{len(catalogue)} source(s)" in result.stdout
    model, header = fitsio.read_cube(tmp_path / "found" / "model.fits")
    _, cube_header = fitsio.read_cube(cube)
    assert model.shape == (24, 64, 64) and header["BUNIT"] == "Jy/pixel"
    assert fitsio.Grid.from_header(header).matches(fitsio.Grid.from_header(cube_header))
    assert (tmp_path / "found" / "continuum.fits").is_file()


def test_deepfocus_names_a_missing_cube(tiny_run, tmp_path):
    result = cli("deepfocus", tmp_path / "nope.fits", "--models", tiny_run / "deepfocus" / "models",
                 "--out", tmp_path / "out")
    one_line_error(result, "deepfocus", "nope.fits")


def test_check_dataset_passes_and_then_names_a_corrupt_shard(tiny_run, tmp_path):
    result = cli("check-dataset", tiny_run / "dataset" / "manifest.json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "6 cubes in 2 shards, all checksums match" in result.stdout
    copy = tmp_path / "dataset"
    shutil.copytree(tiny_run / "dataset", copy)
    with open(copy / "shard_0001.h5", "r+b") as fh:
        fh.seek(100)
        fh.write(b"corrupt")
    result = cli("check-dataset", copy / "manifest.json")
    one_line_error(result, "check-dataset", "shard_0001.h5: checksum mismatch")
    assert (copy / "shard_0001.h5").exists()   # a check reports; only the workflow deletes to rebuild


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_tclean_references_of_a_real_measurement_set(tmp_path):
    result = cli("tclean", HD142, "--npix", 128, "--cell", 0.08, "--method", "hogbom_natural", "--niter", 100,
                 "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    dirty, header = fitsio.read_cube(tmp_path / "dirty.image.fits")
    clean, clean_header = fitsio.read_cube(tmp_path / "hogbom_natural.image.pbcor.fits")
    assert dirty.shape[-2:] == (128, 128) and "BMAJ" in clean_header
    # the disk sits at the phase centre (pixels outside the primary beam are NaN in the pb-corrected image)
    y, x = np.unravel_index(np.nanargmax(clean[0]), clean[0].shape)
    assert abs(x - 64) < 10 and abs(y - 64) < 10 and np.nanmax(clean) > 0.1
    for suffix in ("psf", "pb", "residual", "model"):
        assert (tmp_path / f"hogbom_natural.{suffix}.fits").is_file()


def test_tclean_names_a_missing_measurement_set_and_an_unknown_method(tmp_path):
    one_line_error(cli("tclean", tmp_path / "none.ms", "--npix", 64, "--cell", 0.1, "--out", tmp_path),
                   "tclean", "none.ms: measurement set does not exist")
    one_line_error(cli("tclean", tmp_path / "none.ms", "--npix", 64, "--cell", 0.1, "--method", "wsclean",
                       "--out", tmp_path), "tclean", "--method wsclean: not defined in imaging.methods")


def write_description(path, kl_iterations, iterations):
    path.write_text(yaml.safe_dump({
        "ms": str(HD142), "image": {"npix": 64, "cell_arcsec": 0.08}, "sky": {"offset": 26.0},
        "response": {"mode": "psf"}, "compare": {"methods": ["hogbom_natural"]},
        "inference": {"schedule": [
            {"iterations": iterations, "samples": 1, "learn_noise": False, "kl_iterations": kl_iterations,
             "sampling_iterations": 30},
            {"iterations": 1, "samples": 1, "kl_iterations": kl_iterations, "sampling_iterations": 30}]}}))
    return path


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_resolve_from_a_run_description(tmp_path):
    result = cli("resolve", write_description(tmp_path / "disk.yaml", 5, 2), "--out", tmp_path / "post")
    assert result.returncode == 0, result.stderr[-3000:]
    mean, header = fitsio.read_cube(tmp_path / "post" / "mean.fits")
    std, _ = fitsio.read_cube(tmp_path / "post" / "std.fits")
    assert mean.shape[-2:] == (64, 64) and header["BUNIT"] == "Jy/pixel" and np.all(std > 0)
    hyper = Table.read(tmp_path / "post" / "hyperparameters.csv")
    assert sum(p.startswith("noise scale") for p in hyper["parameter"]) == 3   # one per spectral window
    fit = Table.read(tmp_path / "post" / "fit.csv")
    assert np.all(fit["reduced_chi2"] < fit["reduced_chi2_empty_image"])
    assert not (tmp_path / "post" / ".state").exists()


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_a_diverged_resolve_run_fails_and_writes_no_products(tmp_path):
    """Three KL steps per iteration leave this posterior mean fitting the data worse than an empty image."""
    result = cli("resolve", write_description(tmp_path / "short.yaml", 3, 1), "--out", tmp_path / "post")
    one_line_error(result, "resolve", "diverged: its posterior mean fits the data worse than an empty image")
    assert not (tmp_path / "post" / "mean.fits").exists()


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_resolve_needs_only_the_measurement_set(tmp_path):
    """Grid, sky offset and noise prior come from the data and are recorded in the hyperparameter table."""
    description = tmp_path / "only.yaml"
    description.write_text(yaml.safe_dump({"ms": str(HD142), "response": {"mode": "psf"}, "inference": {"schedule": [
        {"iterations": 2, "samples": 1, "learn_noise": False, "kl_iterations": 10, "sampling_iterations": 50},
        {"iterations": 1, "samples": 1, "kl_iterations": 10, "sampling_iterations": 50}]}}))
    result = cli("resolve", description, "--out", tmp_path / "post")
    assert result.returncode == 0, result.stderr[-3000:]
    hyper = Table.read(tmp_path / "post" / "hyperparameters.csv")
    chosen = {r["parameter"]: r["posterior_mean"] for r in hyper if r["parameter"].endswith("(data-driven)")}
    assert set(chosen) == {f"{k} (data-driven)" for k in ("image.npix", "image.cell_arcsec", "sky.offset",
                                                          "noise.scale")}
    # Band 9: beam 0.4 arcsec / 8, primary beam 8.5 arcsec; (XX - YY) / 2 says the sigma is 1.4-1.7 x too small
    assert chosen["image.cell_arcsec (data-driven)"] == pytest.approx(0.05)
    assert chosen["image.npix (data-driven)"] == 208 and 1.4 < chosen["noise.scale (data-driven)"] < 1.7
    mean, _ = fitsio.read_cube(tmp_path / "post" / "mean.fits")
    assert mean.shape[-2:] == (208, 208)


def test_resolve_names_what_is_wrong_with_a_run_description(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: {npix: 64, cell_arcsec: 0.08}\n")
    one_line_error(cli("resolve", bad, "--out", tmp_path), "resolve", "needs 'ms: <measurement set>'")
    bad.write_text(f"ms: {HD142}\nimage: {{npix: 64, cell_arcsec: 0.08}}\nsky: {{offst: 3}}\n")
    one_line_error(cli("resolve", bad, "--out", tmp_path), "resolve", "does not match config/schema.yaml")


@pytest.mark.skipif(not HD142.is_dir(), reason="shared HD 142527 data not available")
def test_tclean_of_a_uvfits_file(tmp_path):
    """A uvfits file (CASA's export of HD 142527) is imported and imaged like the measurement set."""
    from workflow_lib.casa import casa

    uvfits = tmp_path / "hd142527.uvfits"
    casa(str(tmp_path / "casa.log")).tasks.exportuvfits(vis=str(HD142), fitsfile=str(uvfits), datacolumn="data",
                                                         combinespw=True, padwithflags=True)
    from_uvfits = cli("tclean", uvfits, "--npix", 128, "--cell", 0.08, "--out", tmp_path / "a")
    from_ms = cli("tclean", HD142, "--npix", 128, "--cell", 0.08, "--out", tmp_path / "b")
    assert from_uvfits.returncode == 0 and from_ms.returncode == 0, from_uvfits.stderr[-3000:]
    assert (tmp_path / "a" / "imported.ms" / "table.dat").is_file()
    a, _ = fitsio.read_cube(tmp_path / "a" / "dirty.image.fits")
    b, _ = fitsio.read_cube(tmp_path / "b" / "dirty.image.fits")
    assert np.array_equal(np.isnan(a), np.isnan(b)) and np.isfinite(b).sum() > 1000   # pixels beyond the pb are NaN
    np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=0, atol=1e-5 * np.nanmax(np.abs(b)))
    one_line_error(cli("tclean", tmp_path / "casa.log", "--npix", 64, "--cell", 0.1, "--out", tmp_path / "c"),
                   "tclean", "casa.log: not a FITS file")
