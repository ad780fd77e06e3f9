"""Sky-model generator: flux conservation, orientation, WCS positions, catalogues."""

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
import astropy.units as u

from workflow_lib import fitsio, skymodels


@pytest.mark.parametrize("fwhm_major,fwhm_minor", [(0.6, 0.5), (1.5, 1.0), (4.0, 2.0), (12.0, 3.0)])
def test_gaussian_integrates_to_one(fwhm_major, fwhm_minor):
    image = skymodels.gaussian_2d(64, 64, 31.3, 30.8, fwhm_major, fwhm_minor, 37.0)
    assert image.sum() == pytest.approx(1.0, abs=2e-3)
    if fwhm_minor < 1:
        return  # an unresolved source's pixel centroid is pulled to the nearest pixel centre
    # the centroid sits at the requested sub-pixel position
    yy, xx = np.mgrid[:64, :64]
    assert (image * xx).sum() / image.sum() == pytest.approx(31.3, abs=0.02)
    assert (image * yy).sum() / image.sum() == pytest.approx(30.8, abs=0.02)


def _second_moments(image):
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    x0, y0 = (image * xx).sum(), (image * yy).sum()
    return ((xx - x0) ** 2 * image).sum(), ((yy - y0) ** 2 * image).sum()


def test_position_angle_is_east_of_north():
    north = skymodels.gaussian_2d(64, 64, 32, 32, 10, 3, 0.0)
    east = skymodels.gaussian_2d(64, 64, 32, 32, 10, 3, 90.0)
    var_x, var_y = _second_moments(north)
    assert var_y > 5 * var_x  # PA 0: major axis along +y (north)
    var_x, var_y = _second_moments(east)
    assert var_x > 5 * var_y  # PA 90: major axis along x (east-west)
    # PA 45: major axis from north towards east, i.e. towards -x and +y: x and y anti-correlated
    diag = skymodels.gaussian_2d(64, 64, 32, 32, 10, 3, 45.0)
    yy, xx = np.mgrid[:64, :64]
    assert ((xx - 32) * (yy - 32) * diag).sum() < 0


def test_continuum_field_flux_and_sky_positions(tiny_config):
    image, table, grid = skymodels.continuum_field(tiny_config["continuum"], tiny_config["observation"])
    total = sum(c["flux_mjy"] for c in tiny_config["continuum"]["components"]) * 1e-3
    assert image.sum() == pytest.approx(total, rel=1e-4)
    centre = SkyCoord(grid.ra_deg * u.deg, grid.dec_deg * u.deg)
    for comp, row in zip(tiny_config["continuum"]["components"], table):
        pos = SkyCoord(row["ra_deg"] * u.deg, row["dec_deg"] * u.deg)
        east, north = centre.spherical_offsets_to(pos)
        assert east.to_value(u.arcsec) == pytest.approx(comp["offset_arcsec"][0], abs=1e-4)
        assert north.to_value(u.arcsec) == pytest.approx(comp["offset_arcsec"][1], abs=1e-4)
    # the WCS written to FITS maps the catalogue pixel to the catalogue RA/Dec
    wcs = grid.celestial_wcs()
    ra, dec = wcs.pixel_to_world_values(table["x_pix"][1], table["y_pix"][1])
    assert (ra, dec) == pytest.approx((table["ra_deg"][1], table["dec_deg"][1]), abs=1e-9)


def test_cube_sources_follow_the_rules(tiny_config):
    spec = {**tiny_config["cubes"], "n_sources": [4, 4], "min_separation_arcsec": 1.5}
    cube, table, grid = skymodels.random_cube(spec, tiny_config["observation"], seed=3, index=5)
    assert cube.shape == (spec["nchan"], spec["npix"], spec["npix"])
    assert len(table) == 4
    # brightest at the centre, separations respected, lines inside the band
    assert table["line_flux_jy"].argmax() == 0
    assert (table["x_pix"][0], table["y_pix"][0]) == grid.centre
    xy = np.c_[table["x_pix"], table["y_pix"]]
    dist = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    assert dist[np.triu_indices(4, 1)].min() >= 1.5 / spec["cell_arcsec"]
    assert np.all(table["line_centre_chan"] - table["line_fwhm_chan"] >= 0)
    assert np.all(table["line_centre_chan"] + table["line_fwhm_chan"] <= spec["nchan"] - 1)
    # the cube's flux per channel is the sum of the source spectra
    sources = skymodels.sources_from_table(table)
    expected = sum(s.spectrum(grid.freqs_hz, table.meta["ref_freq_hz"]) for s in sources)
    np.testing.assert_allclose(cube.sum(axis=(1, 2)), expected, rtol=1e-4)


def test_sparse_cubes_and_uniform_placement(tiny_config):
    """A sparse_fraction of the cubes holds zero or one source; the others keep n_sources; without the brightest
    at the centre no source sits there; a fraction of 0 draws exactly the cubes drawn before it existed."""
    obs = tiny_config["observation"]
    spec = {**tiny_config["cubes"], "n_sources": [3, 4], "sparse_fraction": 0.4}
    counts = np.array([len(skymodels.random_cube(spec, obs, seed=2, index=i)[1]) for i in range(60)])
    assert set(counts) <= {0, 1, 3, 4} and 0.2 < np.mean(counts <= 1) < 0.6 and (counts == 0).any()
    uniform = {**spec, "sparse_fraction": 0.0, "brightest_at_centre": False}
    tables = [skymodels.random_cube(uniform, obs, seed=2, index=i)[1] for i in range(10)]
    grid = skymodels.cube_grid(uniform, obs)
    assert all(np.hypot(t["x_pix"] - grid.centre[0], t["y_pix"] - grid.centre[1]).min() > 0 for t in tables)
    # fraction 0: no extra random draw, the same cube as a spec drawn with the old n_sources rule
    plain = {**tiny_config["cubes"], "n_sources": [3, 4], "sparse_fraction": 0.0}
    rng = np.random.default_rng(9)
    n = int(rng.integers(3, 5))
    lo, hi = np.log(plain["line_flux_mjy"])
    fluxes = sorted((np.exp(rng.uniform(lo, hi)) * 1e-3 for _ in range(n)), reverse=True)
    drawn = skymodels.draw_sources(plain, grid, np.random.default_rng(9))
    assert [s.line_flux_jy for s in drawn] == pytest.approx(fluxes, rel=1e-12)


def test_cube_is_reproducible_per_index(tiny_config):
    spec, obs = tiny_config["cubes"], tiny_config["observation"]
    a, ta, _ = skymodels.random_cube(spec, obs, seed=11, index=2)
    b, tb, _ = skymodels.random_cube(spec, obs, seed=11, index=2)
    c, tc, _ = skymodels.random_cube(spec, obs, seed=11, index=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_impossible_separation_is_reported(tiny_config):
    spec = {**tiny_config["cubes"], "n_sources": [30, 30], "min_separation_arcsec": 3.0}
    with pytest.raises(ValueError, match="cannot place 30 sources"):
        skymodels.random_cube(spec, tiny_config["observation"], seed=1, index=0)


def test_skymodel_files_round_trip(tmp_path, tiny_config):
    cube, table, grid = skymodels.random_cube(tiny_config["cubes"], tiny_config["observation"], seed=5, index=0)
    fits_path, ecsv_path = tmp_path / "sky.fits", tmp_path / "truth.ecsv"
    skymodels.write_skymodel(cube, table, grid, {"seed": 5}, fits_path, ecsv_path)
    data, header = fitsio.read_cube(fits_path)
    np.testing.assert_allclose(data, cube, rtol=1e-6, atol=1e-12)  # float32 on disk
    assert header["BUNIT"] == "Jy/pixel"
    back = fitsio.Grid.from_header(header)
    assert (back.nx, back.ny, back.nchan) == (grid.nx, grid.ny, grid.nchan)
    assert back.cell_arcsec == pytest.approx(grid.cell_arcsec)
    assert back.freq0_hz == pytest.approx(grid.freq0_hz)
    assert back.dfreq_hz == pytest.approx(grid.dfreq_hz)
    assert (back.ra_deg, back.dec_deg) == pytest.approx((grid.ra_deg, grid.dec_deg))
    assert "PARHASH" in header
    read = Table.read(ecsv_path, format="ascii.ecsv")
    assert read["line_flux_jy"].unit == u.Jy
    assert skymodels.sources_from_table(read) == skymodels.sources_from_table(table)
    assert read.meta["params"] == {"seed": 5}


def test_fits_without_wcs_is_rejected(tmp_path):
    from astropy.io import fits

    path = tmp_path / "bare.fits"
    fits.PrimaryHDU(np.zeros((8, 8), dtype=np.float32)).writeto(path)
    with pytest.raises(ValueError, match="no celestial WCS"):
        fitsio.read_cube(path)


@pytest.mark.parametrize("npix", [48, 49])
def test_beam_convolution_keeps_positions_and_flux(npix):
    """A point source convolved with a beam peaks on its own pixel at 1 Jy/beam per Jy, on even and odd grids
    (an even one was shifted by a pixel once), and the Jy/beam map sums to the flux times the beam area."""
    from workflow_lib import tables

    image = np.zeros((npix, npix))
    image[20, 13] = 1.0
    beam, cell = (0.9, 0.6, 40.0), 0.1
    smooth = tables.convolve_with_beam(image, cell, beam)
    assert np.unravel_index(np.argmax(smooth), smooth.shape) == (20, 13)
    assert smooth.max() == pytest.approx(1.0, rel=1e-3)
    assert smooth.sum() == pytest.approx(tables.beam_area_pixels(beam, cell), rel=1e-3)


def test_tclean_images_a_cube_in_its_grid_frame():
    """tclean's outframe is the grid's own (a TOPO measurement set's RESOLVE cube is TOPO, and tCLEAN's beside it
    must be too), every FITS SPECSYS has its CASA frame, and an image is mfs."""
    from workflow_lib import msio
    from workflow_lib.imaging import tclean_arguments

    grid = fitsio.Grid(nx=32, ny=32, cell_arcsec=0.1, ra_deg=10.0, dec_deg=-30.0, freq0_hz=230e9, dfreq_hz=1e7,
                       nchan=8)
    assert tclean_arguments(grid, None, 0, 0.0, cube=True)["outframe"] == "LSRK"
    topo = fitsio.Grid(**{**grid.__dict__, "specsys": "TOPOCENT"})
    assert tclean_arguments(topo, None, 0, 0.0, cube=True)["outframe"] == "TOPO"
    assert msio.CASA_FRAME_OF["BARYCENT"] == "BARY" and msio.CASA_FRAME_OF["GEOCENTR"] == "GEO"
    with pytest.raises(ValueError, match="SPECSYS 'HELIOCEN' has no CASA frame"):
        tclean_arguments(fitsio.Grid(**{**grid.__dict__, "specsys": "HELIOCEN"}), None, 0, 0.0, cube=True)
    assert "outframe" not in tclean_arguments(grid, None, 0, 0.0, cube=False)
    # and the frame survives a FITS round trip of the grid
    assert fitsio.Grid.from_header(topo.header("Jy/beam")).specsys == "TOPOCENT"


def test_products_record_the_kind_of_machine(tmp_path, tiny_config):
    """Every table and FITS file says which processor and SIMD level made it: the same bits are promised on
    the same kind of machine, so a differing result on another must be traceable to it."""
    from workflow_lib import provenance

    machine = provenance.machine()
    assert machine["cpu"] and machine["simd"] in (*provenance.SIMD_LEVELS, "baseline")
    image, table, grid = skymodels.random_cube(tiny_config["cubes"], tiny_config["observation"], 1, 0)
    skymodels.write_skymodel(image, table, grid, {"a": 1}, tmp_path / "m.fits", tmp_path / "t.ecsv")
    assert Table.read(tmp_path / "t.ecsv", format="ascii.ecsv").meta["machine"] == machine
    history = [str(h) for h in fitsio.read_cube(tmp_path / "m.fits")[1]["HISTORY"]]
    assert f"machine simd={machine['simd']}" in history and f"machine cpu={machine['cpu']}" in history
