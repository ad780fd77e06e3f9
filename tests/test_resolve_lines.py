"""Per-source line fits of a RESOLVE cube next to a tCLEAN cube (workflow_lib.resolve.lines), on cubes whose
answer is known: a tCLEAN cube that is the model at its beam and posterior samples that are the model."""

import h5py
import numpy as np
import pytest

from workflow_lib import fitsio, skymodels, tables
from workflow_lib.resolve import lines

NPIX, CELL, NCHAN = 96, 0.05, 20   # fine pixels: pixel integration widens a Gaussian by < 1%
BEAM = (0.9, 0.7, 30.0)
SOURCES = [  # a bright line alone, and a fainter one on a continuum 2 arcsec away, compact and aligned with the beam
    skymodels.LineSource(x_pix=38.0, y_pix=48.0, fwhm_major_arcsec=0.4, fwhm_minor_arcsec=0.3, pa_deg=30.0,
                         line_centre_chan=6.3, line_fwhm_chan=3.0, line_flux_jy=0.05, continuum_flux_jy=0.0,
                         spectral_index=0.0),
    skymodels.LineSource(x_pix=78.0, y_pix=48.0, fwhm_major_arcsec=0.5, fwhm_minor_arcsec=0.4, pa_deg=30.0,
                         line_centre_chan=13.6, line_fwhm_chan=4.5, line_flux_jy=0.01, continuum_flux_jy=0.004,
                         spectral_index=0.0),
]
RMS = 1e-3


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lines")
    grid = fitsio.Grid(nx=NPIX, ny=NPIX, cell_arcsec=CELL, ra_deg=239.1746, dec_deg=-35.0, freq0_hz=230e9,
                       dfreq_hz=1e7, nchan=NCHAN)
    model = skymodels.render_cube(SOURCES, grid)
    out = {k: str(tmp / f"{k}") for k in ("truth.ecsv", "sky.fits", "tclean.fits", "mean.fits", "samples.h5")}
    skymodels.write_skymodel(model, skymodels.source_table(SOURCES, grid), grid, {}, out["sky.fits"],
                             out["truth.ecsv"])
    header = grid.header("Jy/beam")
    header["BMAJ"], header["BMIN"], header["BPA"] = BEAM[0] / 3600, BEAM[1] / 3600, BEAM[2]
    fitsio.write_cube(out["tclean.fits"], np.array([tables.convolve_with_beam(p, CELL, BEAM) for p in model]),
                      header, params={})
    fitsio.write_cube(out["mean.fits"], model, grid.header("Jy/pixel"), params={})
    with h5py.File(out["samples.h5"], "w") as fh:   # two samples 2% either side of the model
        fh["sky_jy_per_pixel"] = np.array([0.98 * model, 1.02 * model], dtype=np.float32)
    return out


def table_of(products):
    return lines.line_table(products["truth.ecsv"], products["sky.fits"], {"clean": products["tclean.fits"]},
                            products["samples.h5"], products["mean.fits"], RMS)


def test_the_model_at_its_beam_is_recovered_exactly(products):
    table = table_of(products)
    assert list(table["source"]) == [1, 2]
    np.testing.assert_allclose(table["clean_line_ratio"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(table["resolve_clean_line_ratio"], 1.0, rtol=1e-5)   # float32 samples
    for who in ("model_clean", "clean", "resolve_clean"):
        # the fits find the catalogue's lines (the neighbour is 2 arcsec, 2.5 beams, away)
        np.testing.assert_allclose(table[f"{who}_centre_chan"], table["true_centre_chan"], atol=0.02)
        np.testing.assert_allclose(table[f"{who}_fwhm_chan"], table["true_fwhm_chan"], rtol=0.01)
    # the continuum under the second line: 4 mJy integrated, at the beam a share of it; none under the first
    assert abs(table["clean_continuum_mjy"][0]) < 1e-3
    assert 2.0 < table["clean_continuum_mjy"][1] < 4.0


def test_line_peak_and_snr_at_the_beam(products):
    """A Gaussian source of flux F convolved with a beam of the same position angle peaks at
    F bmaj bmin / sqrt((bmaj^2 + a^2)(bmin^2 + b^2)) Jy/beam; snr is that at the line centre over the noise."""
    table = table_of(products)
    for k, source in enumerate(SOURCES):
        share = BEAM[0] * BEAM[1] / np.sqrt((BEAM[0] ** 2 + source.fwhm_major_arcsec ** 2)
                                            * (BEAM[1] ** 2 + source.fwhm_minor_arcsec ** 2))
        assert table["model_clean_line_mjy"][k] == pytest.approx(source.line_flux_jy * share * 1e3, rel=0.02)
        # the line's area at the beam: peak x FWHM x sqrt(pi / 4 ln 2) x 10 MHz channels
        integral = source.line_flux_jy * share * 1e3 * source.line_fwhm_chan * np.sqrt(np.pi / 4 / np.log(2)) * 10
        assert table["model_clean_line_integral_mjy_mhz"][k] == pytest.approx(integral, rel=0.03)
        peak = (source.line_flux_jy * np.exp(-4 * np.log(2) * (round(source.line_centre_chan)
                                                               - source.line_centre_chan) ** 2
                                             / source.line_fwhm_chan ** 2) + source.continuum_flux_jy) * share
        assert table["snr"][k] == pytest.approx(peak / RMS, rel=0.02)


def test_resolve_spread_is_the_samples_spread(products):
    table = table_of(products)
    # two samples at 0.98 and 1.02 of the model: std (ddof 1) of the line peak = 0.04 / sqrt(2) of it
    np.testing.assert_allclose(table["resolve_clean_line_mjy_std"], 0.04 / np.sqrt(2) * table["model_clean_line_mjy"],
                               rtol=1e-3)
    assert np.all(table["resolve_clean_centre_chan_std"] < 1e-3)   # a scaled cube: the same centre
    assert "the 2 sources with snr >= 5: mean |line ratio - 1| 0.000" in table.meta["note"]


def test_line_fits_of_noise_and_of_bad_spectra():
    """A NaN in a spectrum gives NaN, not an exception; a spectrum of noise a finite fit of nothing, here a
    one-channel spike (the table's snr, not the fit, says which sources are real); few channels still fit."""
    bad = np.zeros(NCHAN)
    bad[3] = np.nan
    assert all(np.isnan(v) for v in lines.line_fit(bad).values())
    noise = lines.line_fit(np.random.default_rng(3).normal(size=NCHAN))
    assert all(np.isfinite(v) for v in noise.values()) and noise["line_fwhm_chan"] < 1
    short = lines.line_fit(np.array([0.0, 1.0, 3.0, 1.0]))
    assert short["line_centre_chan"] == pytest.approx(2.0, abs=0.05)


def test_samples_that_are_not_a_cube_are_refused(products, tmp_path):
    flat = tmp_path / "flat.h5"
    with h5py.File(flat, "w") as fh:
        fh["sky_jy_per_pixel"] = np.zeros((2, NPIX, NPIX), dtype=np.float32)
    with pytest.raises(ValueError, match="flat.h5: posterior samples of shape"):
        lines.line_table(products["truth.ecsv"], products["sky.fits"], {"clean": products["tclean.fits"]},
                         str(flat), products["mean.fits"], RMS)


def test_a_resolve_grid_unlike_the_tclean_cube_is_named(products, tmp_path):
    small = tmp_path / "small.fits"
    grid = fitsio.Grid(nx=32, ny=32, cell_arcsec=CELL, ra_deg=239.1746, dec_deg=-35.0, freq0_hz=230e9,
                       dfreq_hz=1e7, nchan=NCHAN)
    fitsio.write_cube(small, np.zeros((NCHAN, 32, 32)), grid.header("Jy/pixel"), params={})
    with h5py.File(tmp_path / "small.h5", "w") as fh:
        fh["sky_jy_per_pixel"] = np.zeros((2, NCHAN, 32, 32), dtype=np.float32)
    with pytest.raises(ValueError, match=r"small.fits and .*tclean.fits: not the same grid and channels"):
        lines.line_table(products["truth.ecsv"], products["sky.fits"], {"clean": products["tclean.fits"]},
                         str(tmp_path / "small.h5"), str(small), RMS)


def test_a_cube_without_sources_gives_an_empty_table(products, tmp_path):
    from astropy.table import Table

    empty = Table.read(products["truth.ecsv"], format="ascii.ecsv")[:0]
    empty.write(tmp_path / "empty.ecsv", format="ascii.ecsv")
    table = lines.line_table(str(tmp_path / "empty.ecsv"), products["sky.fits"], {"clean": products["tclean.fits"]},
                             products["samples.h5"], products["mean.fits"], RMS)
    assert len(table) == 0 and "resolve_clean_line_mjy_std" in table.colnames
    lines.spectra_figure(str(tmp_path / "empty.ecsv"), products["sky.fits"], products["tclean.fits"],
                         products["samples.h5"], products["mean.fits"], "clean", str(tmp_path / "f.png"),
                         str(tmp_path / "f.pdf"))
    assert (tmp_path / "f.png").stat().st_size > 0
