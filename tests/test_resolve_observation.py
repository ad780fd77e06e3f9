"""RESOLVE's MS reader on a tiny MS written here: Stokes I, weights, flags, selection, averaging, errors."""

import logging
import shutil

import numpy as np
import pytest

from workflow_lib import msio, provenance
from workflow_lib.casa import casa
from workflow_lib.resolve import observation
from workflow_lib.resolve.observation import C_LIGHT

FREQS = {0: 230e9 + 100e6 * np.arange(4), 1: 232e9 + 100e6 * np.arange(4)}  # two windows of 4 channels
ROWS_PER_WINDOW = 50  # 5 antennas (10 baselines) x 5 integrations


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Two spectral windows (XX, YY) of field 'src' and a second field, written by CASA's simulator."""
    path = tmp_path_factory.mktemp("ms") / "tiny.ms"
    tools = casa(str(path.parent / "casa.log")).tools
    sm, me = tools.simulator(), tools.measures()
    rng = np.random.default_rng(3)
    sm.open(str(path))
    sm.setconfig(telescopename="ALMA", x=rng.uniform(-150, 150, 5).tolist(), y=rng.uniform(-150, 150, 5).tolist(),
                 z=[0.0] * 5, dishdiameter=[12.0] * 5, mount=["alt-az"] * 5, antname=[f"A{i}" for i in range(5)],
                 padname=[f"P{i}" for i in range(5)], coordsystem="local", referencelocation=me.observatory("ALMA"))
    for spw, freqs in FREQS.items():
        sm.setspwindow(spwname=f"spw{spw}", freq=f"{freqs[0]}Hz", deltafreq="100MHz", freqresolution="100MHz",
                       nchannels=4, stokes="XX YY")
    sm.setfeed(mode="perfect X Y")
    sm.setfield(sourcename="src", sourcedirection=me.direction("J2000", "239.1746deg", "-35deg"))
    sm.setfield(sourcename="other", sourcedirection=me.direction("J2000", "239.2deg", "-35deg"))
    sm.setlimits(shadowlimit=0.0, elevationlimit="0deg")
    sm.setauto(autocorrwt=0.0)
    sm.settimes(integrationtime="60s", usehourangle=True, referencetime=me.epoch("utc", "2024/03/21"))
    for source, spw, start in (("src", "spw0", 0), ("src", "spw1", 0), ("other", "spw0", 300)):
        sm.observe(source, spw, starttime=f"{start}s", stoptime=f"{start + 300}s")
    sm.close()
    with msio.table(path, writable=True) as tb:
        tb.removecols(["MODEL_DATA", "CORRECTED_DATA"])
    return path


@pytest.fixture
def ms(template, tmp_path):
    """A fresh copy with known XX = 2 + i, YY = 4 - i, WEIGHT (1, 3) and no flags."""
    path = tmp_path / "tiny.ms"
    shutil.copytree(template, path)
    with msio.table(path, writable=True) as tb:
        n = tb.nrows()
        data = np.empty((2, 4, n), dtype=np.complex64)
        data[0], data[1] = 2 + 1j, 4 - 1j
        tb.putcol("DATA", data)
        tb.putcol("WEIGHT", np.array([[1.0], [3.0]], dtype=np.float32).repeat(n, axis=1))
        tb.putcol("FLAG", np.zeros((2, 4, n), bool))
    return path


def read_src(ms, **kwargs):
    """The reader on field 0 ('src') unless a test names another: the tiny MS holds two fields."""
    return observation.read(ms, **{"field": 0, **kwargs})


def edit(ms, **columns):
    """Apply ``name=function(array) -> array`` to whole columns."""
    with msio.table(ms, writable=True) as tb:
        for name, func in columns.items():
            tb.putcol(name, func(tb.getcol(name)))


def rows_of(ms, field=0, ddid=0):
    with msio.table(ms) as tb:
        return np.nonzero((tb.getcol("FIELD_ID") == field) & (tb.getcol("DATA_DESC_ID") == ddid))[0]


def test_stokes_i_from_parallel_hands_with_combined_weights(ms):
    obs = read_src(ms)
    assert obs.field_name == "src" and obs.spws == (0, 1)
    assert obs.nvis == 2 * 4 * ROWS_PER_WINDOW
    np.testing.assert_allclose(obs.vis, 3.0 + 0j)                 # (XX + YY) / 2
    np.testing.assert_allclose(obs.vis_difference, -1.0 + 1j)     # (XX - YY) / 2
    np.testing.assert_allclose(obs.weight, 4 * 1 * 3 / (1 + 3))   # 1 / var((XX + YY) / 2)
    assert (obs.ra_deg, obs.dec_deg) == pytest.approx((239.1746, -35.0))
    assert np.bincount(obs.spw_index).tolist() == [4 * ROWS_PER_WINDOW] * 2


def test_uvw_in_wavelengths_per_channel(ms):
    obs = read_src(ms, spws=[1])
    with msio.table(ms) as tb:
        uvw_m = tb.getcol("UVW")[:, rows_of(ms, ddid=1)].T
    # visibilities are ordered channel by channel
    for chan, freq in enumerate(FREQS[1]):
        block = slice(chan * ROWS_PER_WINDOW, (chan + 1) * ROWS_PER_WINDOW)
        np.testing.assert_allclose(obs.uvw[block], uvw_m * freq / C_LIGHT, rtol=1e-12)
        np.testing.assert_allclose(obs.freq_hz[block], freq)
    assert obs.bandwidth_hz == pytest.approx(400e6)


def test_flags_drop_visibilities_and_one_flagged_hand_flags_stokes_i(ms, caplog):
    rows = rows_of(ms)

    def flag(f):
        f[1, 2, rows[:10]] = True      # YY of channel 2 in ten rows
        f[:, :, rows[10]] = True       # everything of one row
        return f

    edit(ms, FLAG=flag)
    edit(ms, FLAG_ROW=lambda f: np.where(np.arange(f.size) == rows[11], True, f))
    with caplog.at_level(logging.INFO):
        obs = read_src(ms, spws=[0])
    assert obs.nvis == 4 * ROWS_PER_WINDOW - 10 - 2 * 4
    assert obs.dropped["flagged"] == 18
    assert "18 flagged" in caplog.text


def test_weight_spectrum_is_preferred_and_channels_average(ms):
    rows = rows_of(ms)
    spectrum = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)[None, :, None] * np.ones((2, 1, 1), np.float32)
    with msio.table(ms, writable=True) as tb:
        tb.addcols({"WEIGHT_SPECTRUM": {"valueType": "float", "ndim": 2, "option": 0, "maxlen": 0, "comment": "",
                                        "dataManagerType": "StandardStMan", "dataManagerGroup": "WeightSpectrum"}})
        tb.putcol("WEIGHT_SPECTRUM", np.repeat(spectrum, tb.nrows(), axis=2))
        data = tb.getcol("DATA")
        data[:, :, :] = np.arange(4)[None, :, None] * (1 + 1j)    # channel c holds c (1 + i) in both hands
        tb.putcol("DATA", data)
    single = read_src(ms, spws=[0], channels=[1, 3])
    assert single.nvis == 2 * ROWS_PER_WINDOW
    np.testing.assert_allclose(np.unique(single.weight), [4.0, 6.0])   # 4 w w / (2 w) = 2 w per channel
    averaged = read_src(ms, spws=[0], channels=[1, 3], average=True)
    assert averaged.nvis == ROWS_PER_WINDOW
    np.testing.assert_allclose(averaged.vis, (1 * 2 + 2 * 3) / 5 * (1 + 1j))   # weighted mean of channels 1, 2
    np.testing.assert_allclose(averaged.weight, 10.0)
    freq = (FREQS[0][1] * 2 + FREQS[0][2] * 3) / 5
    np.testing.assert_allclose(averaged.freq_hz, freq)
    with msio.table(ms) as tb:
        uvw_m = tb.getcol("UVW")[:, rows].T
    np.testing.assert_allclose(averaged.uvw, uvw_m * freq / C_LIGHT, rtol=1e-12)


def test_nonfinite_and_nonpositive_weights_are_dropped_with_counts(ms, caplog):
    rows = rows_of(ms)

    def spoil_data(d):
        d[0, 0, rows[:3]] = np.nan
        d[1, 1, rows[3]] = np.inf
        return d

    edit(ms, DATA=spoil_data, WEIGHT=lambda w: np.where(np.isin(np.arange(w.shape[1]), rows[4:9]), -1.0, w))
    with caplog.at_level(logging.INFO):
        obs = read_src(ms, spws=[0])
    assert obs.dropped == {"flagged": 0, "nonfinite": 4, "nonpositive_weight": 5 * 4}
    assert obs.nvis == 4 * ROWS_PER_WINDOW - 4 - 20
    assert np.all(np.isfinite(obs.vis)) and np.all(obs.weight > 0)
    assert "4 NaN/inf dropped" in caplog.text and "20 with zero or negative weight dropped" in caplog.text


def test_field_by_name_and_selection_errors(ms):
    assert read_src(ms, field="other").nvis == 4 * ROWS_PER_WINDOW
    with pytest.raises(ValueError, match="no field named 'nope'"):
        read_src(ms, field="nope")
    with pytest.raises(ValueError, match="spectral window 7 does not exist"):
        read_src(ms, spws=[7])
    with pytest.raises(ValueError, match=r"channels \[2, 9\) outside spectral window 0"):
        read_src(ms, channels=[2, 9])
    with pytest.raises(ValueError, match="no rows in spectral windows"):
        read_src(ms, field="other", spws=[1])
    with pytest.raises(ValueError, match=r"field 'other' has no data in spectral window 1 \(selected: \[0, 1\]\)"):
        read_src(ms, field="other", spws=[0, 1])
    assert read_src(ms, field="other").spws == (0,)   # all windows: the empty one is skipped (and logged)


def test_bad_measurement_sets_are_named(ms, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ms: measurement set does not exist"):
        read_src(tmp_path / "missing.ms")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="plain: not a CASA table"):
        read_src(tmp_path / "plain")
    with pytest.raises(ValueError, match=r"tiny.ms: missing column\(s\) CORRECTED_DATA"):
        read_src(ms, column="CORRECTED_DATA")


def test_all_flagged_or_nothing_usable_is_an_error(ms):
    edit(ms, DATA=lambda d: np.full_like(d, np.nan))
    with pytest.raises(ValueError, match=r"tiny.ms: no usable visibilities remain \(0 flagged, 400 NaN/inf"):
        read_src(ms)
    edit(ms, FLAG=lambda f: np.ones_like(f))
    with pytest.raises(ValueError, match="tiny.ms: all 400 visibilities of field 'src' .* are flagged"):
        read_src(ms)


def test_field_of_view_and_pixels_are_checked_against_the_data(ms):
    obs = read_src(ms)
    beam = obs.natural_beam_fwhm_arcsec()
    obs.check_image(64, beam / 8)
    with pytest.raises(ValueError, match="tiny.ms: image: the field of view .* is smaller than the natural beam"):
        obs.check_image(32, beam / 64)
    with pytest.raises(ValueError, match="longest baselines fall off the uv grid"):
        obs.check_image(64, 0.5 / obs.uv_length.max() * 206264.8 * 1.5)


def test_download_verifies_the_checksum_and_extracts_the_measurement_set(ms, tmp_path):
    """An archive run, offline: a file:// URL stands in for the archive."""
    import tarfile

    from workflow_lib.resolve import archive

    tarball = tmp_path / "data.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(ms, arcname="calibrated/tiny.ms")
    url, digest = tarball.as_uri(), provenance.file_sha256(tarball)
    with pytest.raises(RuntimeError, match="the network is off"):
        archive.download_ms(url, "calibrated/tiny.ms", tmp_path / "a.ms", digest, network=False)
    with pytest.raises(ValueError, match="does not match the configured"):
        archive.download_ms(url, "calibrated/tiny.ms", tmp_path / "b.ms", "0" * 64, network=True)
    assert not (tmp_path / "b.ms").exists()
    with pytest.raises(ValueError, match="holds no measurement set 'other.ms'"):
        archive.download_ms(url, "other.ms", tmp_path / "c.ms", digest, network=True)
    archive.download_ms(url, "calibrated/tiny.ms", tmp_path / "d.ms", digest, network=True)
    assert read_src(tmp_path / "d.ms").nvis == 2 * 4 * ROWS_PER_WINDOW
    assert (tmp_path / "d.ms.sha256").read_text().startswith(digest)


@pytest.mark.parametrize("with_filter", [True, False])
def test_archive_members_that_leave_the_extraction_directory_are_refused(ms, tmp_path, monkeypatch, with_filter):
    """tarfile's "data" filter, or the hand-made check where this Python lacks it, refuses a '..' member."""
    import io
    import tarfile

    from workflow_lib.resolve import archive

    if not with_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    tarball = tmp_path / "evil.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(ms, arcname="calibrated/tiny.ms")
        info = tarfile.TarInfo("calibrated/tiny.ms/../../../../escaped.txt")   # into tmp_path
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises((ValueError, tarfile.FilterError) if with_filter else ValueError):
        archive.download_ms(tarball.as_uri(), "calibrated/tiny.ms", tmp_path / "e.ms",
                            provenance.file_sha256(tarball), network=True)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "e.ms").exists()


def test_several_fields_and_none_chosen_is_an_error_listing_them(ms, tmp_path):
    with pytest.raises(ValueError, match=r"tiny.ms: 2 fields hold data \(0 'src' \(100 rows\), 1 'other' \(50 rows\)\); "
                                         "choose one with data.field"):
        observation.read(ms)
    single = tmp_path / "single.ms"
    shutil.copytree(ms, single)
    edit(single, FIELD_ID=lambda ids: np.zeros_like(ids))   # every row on 'src'
    assert observation.read(single).field_name == "src"   # the only field with data, though FIELD lists two


def _sorted(obs):
    """An observation's visibilities in a fixed order (importuvfits reorders the rows)."""
    order = np.lexsort((np.round(obs.uvw[:, 1], 3), np.round(obs.uvw[:, 0], 3), obs.spw_index))
    return obs.uvw[order], obs.vis[order], obs.weight[order]


def test_a_uvfits_file_is_imported_as_the_same_visibilities(ms, tmp_path):
    """CASA writes the uvfits (field 'src', both windows), the archive step imports it: the same visibilities.

    The weights come back divided by the 4 channels: without WEIGHT_SPECTRUM, exportuvfits spreads WEIGHT over
    the channels (on HD 142527's one-channel windows the round trip is exact; the noise model learns any common
    factor anyway)."""
    from workflow_lib.resolve import archive

    uvfits = tmp_path / "src.uvfits"
    casa(str(tmp_path / "casa.log")).tasks.exportuvfits(vis=str(ms), fitsfile=str(uvfits), field="0",
                                                         datacolumn="data", combinespw=True, padwithflags=True)
    archive.import_uvfits(uvfits, tmp_path / "imported.ms", str(tmp_path / "casa.log"))
    imported = observation.read(tmp_path / "imported.ms")   # one field now: no choice needed
    original = read_src(ms)
    assert imported.nvis == original.nvis and imported.spws == (0, 1)
    (uvw_a, vis_a, w_a), (uvw_b, vis_b, w_b) = _sorted(imported), _sorted(original)
    np.testing.assert_allclose(uvw_a, uvw_b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(vis_a, vis_b, rtol=1e-6)
    np.testing.assert_allclose(w_a, w_b / 4, rtol=1e-6)


def test_files_that_are_not_usable_uvfits_are_named(tmp_path):
    from astropy.io import fits

    from workflow_lib.resolve import archive

    with pytest.raises(FileNotFoundError, match="none.uvfits: uvfits file does not exist"):
        archive.check_uvfits(tmp_path / "none.uvfits")
    (tmp_path / "text.uvfits").write_text("not fits")
    with pytest.raises(ValueError, match="text.uvfits: not a FITS file"):
        archive.check_uvfits(tmp_path / "text.uvfits")
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "image.uvfits")
    with pytest.raises(ValueError, match="image.uvfits: not a uvfits file: its primary HDU holds no random groups"):
        archive.check_uvfits(tmp_path / "image.uvfits")
    groups = fits.GroupData(np.zeros((3, 1, 1, 1, 1, 2, 3), np.float32), parnames=["VV", "WW", "DATE", "BASELINE"],
                            pardata=[np.zeros(3)] * 4, bitpix=-32)
    fits.GroupsHDU(groups).writeto(tmp_path / "no_uu.uvfits")
    with pytest.raises(ValueError, match=r"no_uu.uvfits: the random groups lack the parameters \['UU'\]"):
        archive.import_uvfits(tmp_path / "no_uu.uvfits", tmp_path / "x.ms")
    assert not (tmp_path / "x.ms").exists()


def test_the_frequency_frame_of_the_window_reaches_the_image_header(ms):
    """The products' SPECSYS is the measurement set's MEAS_FREQ_REF (ALMA data are often TOPO), not a fixed
    LSRK; an unknown code is an error naming the file."""
    from workflow_lib.resolve.steps import image_grid

    with msio.table(ms / "SPECTRAL_WINDOW") as tb:
        simulated = tb.getcol("MEAS_FREQ_REF")
    assert read_src(ms).specsys == msio.FITS_SPECSYS[int(simulated[0])]
    with msio.table(ms / "SPECTRAL_WINDOW", writable=True) as tb:
        tb.putcol("MEAS_FREQ_REF", np.array([5, 5], dtype=simulated.dtype))
    obs = read_src(ms, spws=[1])
    assert obs.specsys == "TOPOCENT"
    assert image_grid(obs, 32, 0.5).header("Jy/pixel")["SPECSYS"] == "TOPOCENT"
    with msio.table(ms / "SPECTRAL_WINDOW", writable=True) as tb:
        tb.putcol("MEAS_FREQ_REF", np.array([64, 64], dtype=simulated.dtype))
    with pytest.raises(ValueError, match="tiny.ms: spectral window 0 has frequency reference code 64"):
        read_src(ms)
