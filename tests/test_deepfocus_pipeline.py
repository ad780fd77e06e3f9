"""The DeepFocus pipeline: bad inputs, catalogue and FITS round trips, model cube and photometry."""

import logging

import numpy as np
import pytest
import torch
from astropy.table import Table
from scipy.special import expit

from workflow_lib import fitsio, provenance
from workflow_lib.deepfocus import blobsfinder, deepgru, geometry, reliability, resnets, train
from workflow_lib.deepfocus.pipeline import DeepFocus, aperture_flux, barycentre, write_products
from workflow_lib.deepfocus.preprocess import measured_snr, robust_rms
from workflow_lib.deepfocus.settings import cube_products, model_files

NCHAN, NPIX = 16, 32
GRID = fitsio.Grid(nx=NPIX, ny=NPIX, cell_arcsec=0.1, ra_deg=239.1746, dec_deg=-35.0, freq0_hz=229.9e9,
                   dfreq_hz=1e7, nchan=NCHAN)
META = {"beam": {"fwhm_major": 6.0, "fwhm_minor": 5.0, "pa_deg": 80.0}, "cell_arcsec": 0.1, "dfreq_hz": 1e7,
        "centre_freq_hz": float(GRID.freqs_hz.mean()), "shape": [NCHAN, NPIX, NPIX]}
SETTINGS = {"threshold": 0.15, "outside_clean_sigma": 5.0, "focus_size": 16, "batch_cubes": 2, "bright_snr": 6.0,
            "min_snr": 1.0, "mask_dilation": 1.5, "leak_margin": 1, "rule": "study", "ranking": "score",
            "ranking_threshold": -np.inf, "reliability": None,
            "lines": {"height": 0.1, "prominence": 0.05, "distance": 4, "half_width": 4}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained but complete set of checkpoints in the workflow's layout."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    paths = model_files(root)
    train.save_model(paths["blobsfinder"], blobsfinder.BlobsFinder(NPIX, (4, 8), 16), extra=META)
    train.save_model(paths["deepgru"], deepgru.DeepGRU(4), extra=META)
    for t in resnets.TARGETS:
        train.save_model(paths[f"resnet_{t}"], resnets.ResNet(resnets.OUTPUTS[t], (4, 8), (1, 1), 8),
                         extra={"target": t})
    return paths


@pytest.fixture(scope="module")
def pipeline(models):
    return DeepFocus.load(models, SETTINGS, device="cpu")


def _source_cube(rng, noise=0.01):
    beam = geometry.Beam(**META["beam"])
    cube = noise * rng.standard_normal((NCHAN, NPIX, NPIX))
    chan = np.arange(NCHAN)[:, None, None]
    cube += 2.0 * np.exp(-0.5 * ((chan - 7) / 1.5) ** 2) * geometry.footprint((NPIX, NPIX), 15, 17, beam.cov)
    return cube


def test_empty_and_nan_cubes_give_catalogues_not_crashes(pipeline, caplog):
    rng = np.random.default_rng(0)
    cubes = np.stack([np.zeros((NCHAN, NPIX, NPIX)), _source_cube(rng), _source_cube(rng)])
    cubes[2, 3, 4:8, 5] = np.nan
    with caplog.at_level(logging.WARNING):
        results = pipeline.run(cubes, GRID)
    assert "4 NaN/inf pixels set to zero" in caplog.text
    assert len(results) == 3
    assert len(results[0].catalogue) == 0 and not results[0].model.any()
    assert results[0].model.shape == (NCHAN, NPIX, NPIX) and results[0].continuum.shape == (NPIX, NPIX)
    for r in results[1:]:
        assert np.isfinite(r.model).all() and np.isfinite(r.continuum).all()


@pytest.mark.parametrize("change, message", [
    ({"cell_arcsec": 0.2}, r"pixels of 0.2 arcsec, but the models were trained on 0.1 arcsec pixels; regrid the "
                           r"cube, or train models for it \(dataset.cell_arcsec: 0.2\)"),
    ({"dfreq_hz": 2e7}, r"channels of 20 MHz, but the models were trained on 10 MHz channels; train models for it "
                        r"\(dataset.channel_width_mhz: 20\)"),
    ({"freq0_hz": 339.9e9}, r"centred at 339.975 GHz, but the models were trained at 229.975 GHz: its beam is 0.676 "
                            r"times theirs in pixels; train models for it \(dataset.centre_freq_ghz: 339.975\)"),
    ({"nx": 24, "ny": 24}, r"24 x 24 pixels, smaller than the 32 x 32 images .*\(dataset.npix: 24\)"),
])
def test_cubes_that_do_not_fit_the_models_are_refused(pipeline, tmp_path, change, message):
    grid = fitsio.Grid(**{**GRID.__dict__, **change})
    path = tmp_path / "cube.fits"
    fitsio.write_cube(path, np.zeros((grid.nchan, grid.ny, grid.nx)), grid.header("Jy/beam"))
    with pytest.raises(ValueError, match=message) as err:
        pipeline.run_fits(path)
    assert str(path) in str(err.value)


def test_a_cube_near_the_training_frequency_passes_and_old_models_say_they_cannot_check(pipeline, caplog):
    near = fitsio.Grid(**{**GRID.__dict__, "freq0_hz": GRID.freq0_hz * 1.005})      # 0.5%: within tolerance
    pipeline.check_grid(near)
    old = DeepFocus(pipeline.finder, pipeline.gru, pipeline.nets,
                    {k: v for k, v in META.items() if k != "centre_freq_hz"}, SETTINGS, "cpu")
    with caplog.at_level(logging.WARNING):
        old.check_grid(fitsio.Grid(**{**GRID.__dict__, "freq0_hz": 339.9e9}), "old.fits")
    assert "old.fits: these models do not record their training frequency" in caplog.text


def test_larger_images_are_tiled_and_odd_sizes_padded(pipeline):
    images = np.random.default_rng(1).normal(size=(2, 80, 56))
    prob = blobsfinder.probability(pipeline.finder, images, "cpu")
    assert prob.shape == (2, 80, 56) and (prob > 0).all()
    assert blobsfinder.network_size(360, 4) == 368 and blobsfinder.network_size(64, 4) == 64
    assert blobsfinder.probability(pipeline.finder, images[:, :30, :29], "cpu").shape == (2, 30, 29)
    big = fitsio.Grid(**{**GRID.__dict__, "nx": 48, "ny": 48})
    noise = 1e-3 * np.random.default_rng(2).normal(size=(1, NCHAN, 48, 48))
    assert pipeline.run(noise, big)[0].model.shape == (NCHAN, 48, 48)


def test_checkpoint_for_another_parameter_is_refused(models):
    swapped = {**models, "resnet_pa": models["resnet_flux"]}
    with pytest.raises(ValueError, match="ResNet for 'flux', not for 'pa'"):
        DeepFocus.load(swapped, SETTINGS, device="cpu")
    with pytest.raises(ValueError, match="holds a DeepGRU, expected a BlobsFinder"):
        DeepFocus.load({**models, "blobsfinder": models["deepgru"]}, SETTINGS, device="cpu")


def test_catalogue_and_fits_round_trip(pipeline, tmp_path):
    cube = _source_cube(np.random.default_rng(3))
    detections = [[{"box": np.array([9.5, 11.5, 21.5, 22.5]), "range": np.array([4.0, 10.0]), "score": 0.7,
                    "snr_integrated": 3.0, "snr": 8.0, "pixel_snr": 5.0, "deblended": False}]]
    result = pipeline.characterise(cube[None], detections, GRID)[0]
    table = result.catalogue
    assert len(table) == 1 and table["x_pix"][0] == pytest.approx(15, abs=0.5)
    assert table["line_centre_chan"][0] == pytest.approx(7.0) and table["line_fwhm_chan"][0] == pytest.approx(3.0)
    assert table["line_centre_ghz"][0] == pytest.approx((229.9e9 + 7 * 1e7) / 1e9)
    assert table["fwhm_major_arcsec"][0] >= table["fwhm_minor_arcsec"][0] > 0
    ra, dec = GRID.celestial_wcs().pixel_to_world_values(table["x_pix"][0], table["y_pix"][0])
    assert (table["ra_deg"][0], table["dec_deg"][0]) == pytest.approx((float(ra), float(dec)))
    params = {"test": 1}
    paths = write_products(result, GRID, cube_products(tmp_path / "cube"), params)
    back = Table.read(paths["catalogue"])
    assert back.colnames == table.colnames and back.meta["params_hash"] == provenance.params_hash(params)
    for name in table.colnames:
        np.testing.assert_allclose(np.asarray(back[name], float), np.asarray(table[name], float), rtol=1e-12)
    assert back["fwhm_major_arcsec"].unit == "arcsec"
    model, header = fitsio.read_cube(paths["model"])
    assert fitsio.Grid.from_header(header).matches(GRID) and header["BUNIT"] == "Jy/pixel"
    np.testing.assert_allclose(model, result.model, rtol=1e-6)
    continuum, header = fitsio.read_cube(paths["continuum"])
    assert continuum.shape == (1, NPIX, NPIX) and header["BUNIT"] == "Jy/beam"
    cgrid = fitsio.Grid.from_header(header)
    assert cgrid.freq0_hz == pytest.approx(GRID.freqs_hz.mean()) and cgrid.nchan == 1


def test_model_cube_holds_the_catalogue_fluxes():
    row = {"x_pix": 15.3, "y_pix": 16.0, "fwhm_major_arcsec": 0.6, "fwhm_minor_arcsec": 0.3, "pa_deg": 20.0,
           "line_centre_chan": 7.5, "line_fwhm_chan": 3.0, "line_flux_jy": 0.02, "continuum_flux_jy": 0.001}
    model = DeepFocus.model_cube(Table(rows=[row]), GRID)
    line = 0.02 * np.exp(-0.5 * ((np.arange(NCHAN) - 7.5) / (3.0 / 2.3548)) ** 2)
    np.testing.assert_allclose(model.sum(axis=(1, 2)), 0.001 + line, rtol=1e-4)
    empty = DeepFocus.model_cube(Table(names=list(row)), GRID)
    assert empty.shape == (NCHAN, NPIX, NPIX) and not empty.any()


def test_aperture_flux_and_barycentre_of_a_seen_gaussian():
    beam = geometry.Beam(6.0, 5.0, 80.0)
    seen = geometry.seen_covariance(4.0, 2.0, 30.0, beam)
    flux = 0.5  # Jy: peak in Jy/beam is flux x beam area / seen area
    image = flux * beam.area / (2 * np.pi * np.sqrt(np.linalg.det(seen))) * geometry.footprint((48, 48), 24.3, 20.6,
                                                                                                seen)
    box = geometry.footprint_box(24.3, 20.6, seen)
    assert aperture_flux(image, box, 24.3, 20.6, seen, beam) == pytest.approx(flux, rel=1e-6)
    assert barycentre(image, [14.5, 10.5, 34.5, 30.5]) == pytest.approx((24.3, 20.6), abs=0.05)


def test_read_beam_from_the_header_or_casas_beams_table(tmp_path):
    from astropy.io import fits

    image = np.zeros((3, 8, 8))
    fitsio.write_cube(tmp_path / "keywords.fits", image, GRID.header("Jy/beam"), beam=(0.9, 0.7, 40.0))
    assert fitsio.read_beam(tmp_path / "keywords.fits") == pytest.approx((0.9, 0.7, 40.0))
    fitsio.write_cube(tmp_path / "none.fits", image, GRID.header("Jy/beam"))
    assert fitsio.read_beam(tmp_path / "none.fits") is None
    beams = fits.BinTableHDU.from_columns([
        fits.Column("BMAJ", "E", unit="arcsec", array=[0.8, 0.9, 1.0]),
        fits.Column("BMIN", "E", unit="arcsec", array=[0.6, 0.7, 0.8]),
        fits.Column("BPA", "E", unit="deg", array=[30.0, 40.0, 50.0]),
        fits.Column("CHAN", "J", array=[0, 1, 2]), fits.Column("POL", "J", array=[0, 0, 0])], name="BEAMS")
    with fits.open(tmp_path / "none.fits") as hdul:
        fits.HDUList([hdul[0], beams]).writeto(tmp_path / "table.fits")
    assert fitsio.read_beam(tmp_path / "table.fits") == pytest.approx((0.9, 0.7, 40.0))


def test_the_catalogue_uses_the_cubes_own_beam(pipeline, tmp_path, monkeypatch):
    """Boxes and aperture fluxes follow the beam the cube was observed with, not the training set's."""
    cube = _source_cube(np.random.default_rng(3))
    detections = [[{"box": np.array([9.5, 11.5, 21.5, 22.5]), "range": np.array([4.0, 10.0]), "score": 0.7,
                    "snr_integrated": 3.0, "snr": 8.0, "pixel_snr": 5.0, "deblended": False}]]
    trained = pipeline.characterise(cube[None], detections, GRID)[0].catalogue
    wider = geometry.Beam(2 * META["beam"]["fwhm_major"], 2 * META["beam"]["fwhm_minor"], 80.0)
    observed = pipeline.characterise(cube[None], detections, GRID, beam=wider)[0].catalogue
    assert observed["box_x1"][0] - observed["box_x0"][0] > trained["box_x1"][0] - trained["box_x0"][0]
    assert observed["line_aperture_flux_jy_mhz"][0] != pytest.approx(trained["line_aperture_flux_jy_mhz"][0])
    seen = []
    monkeypatch.setattr(pipeline, "run", lambda cubes, grid, where, beam, psf: seen.append((beam, psf)) or [None])
    fitsio.write_cube(tmp_path / "cube.fits", cube, GRID.header("Jy/beam"), beam=(1.2, 1.0, 80.0))
    pipeline.run_fits(tmp_path / "cube.fits")
    beam, psf = seen[0]
    assert (beam.fwhm_major, beam.fwhm_minor, beam.pa_deg) == pytest.approx((12.0, 10.0, 80.0)) and psf is None
    # a PSF FITS beside the cube reaches the pipeline; one of other channels is refused
    fitsio.write_cube(tmp_path / "psf.fits", np.ones_like(cube), GRID.header("1"))
    pipeline.run_fits(tmp_path / "cube.fits", tmp_path / "psf.fits")
    assert seen[1][1].shape == cube.shape
    fitsio.write_cube(tmp_path / "short.fits", np.ones_like(cube[:3]), GRID.header("1"))
    with pytest.raises(ValueError, match="short.fits: 3 PSF channels for the 16 of"):
        pipeline.run_fits(tmp_path / "cube.fits", tmp_path / "short.fits")


def test_the_catalogue_is_cut_on_the_reliability_of_its_rows(pipeline):
    """A model that reads only the focused SNR keeps the detection whose reliability reaches the threshold."""
    cube = _source_cube(np.random.default_rng(3))
    source = {"range": np.array([4.0, 10.0]), "score": 0.7, "snr_integrated": 3.0, "pixel_snr": 5.0,
              "deblended": False}
    detections = [[{**source, "box": np.array([9.5, 11.5, 21.5, 22.5]), "snr": 8.0},
                   {**source, "box": np.array([0.0, 0.0, 6.0, 6.0]), "snr": 0.5}]]
    weights = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]   # intercept, then one per feature: the focused SNR only
    model = {"features": list(reliability.FEATURES), "mean": [0.0] * 6, "scale": [1.0] * 6, "weights": weights}
    every = DeepFocus(pipeline.finder, pipeline.gru, pipeline.nets, META, {**SETTINGS, "reliability": model}, "cpu")
    table = every.characterise(cube[None], detections, GRID)[0].catalogue
    np.testing.assert_allclose(table["reliability"], expit(np.arcsinh([8.0, 0.5])), rtol=1e-12)
    rms = robust_rms(cube)
    np.testing.assert_allclose(table["measured_snr"], [measured_snr(cube, x, y, rms)
                                                       for x, y in zip(table["x_pix"], table["y_pix"])])
    cut = DeepFocus(pipeline.finder, pipeline.gru, pipeline.nets, META,
                    {**SETTINGS, "reliability": model, "ranking": "reliability", "ranking_threshold": 0.8}, "cpu")
    kept = cut.characterise(cube[None], detections, GRID)[0].catalogue
    assert list(kept["snr"]) == [8.0] and list(kept["id"]) == [1]
