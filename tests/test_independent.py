"""The independent test set: cubes that CASA makes end to end (simobserve tsys-atm noise, tclean niter 0)."""

import json

import numpy as np
import pytest
from astropy.table import Table

from workflow_lib import fitsio
from workflow_lib.dataset.independent import build_cube
from workflow_lib.deepfocus.preprocess import robust_rms


def _build(config, kind, out, cube=None):
    ind = config["independent"]
    cube = cube or f"{kind}_00"
    files = {name: str(out / f"{name}.{ext}") for name, ext in (("dirty", "fits"), ("psf", "fits"),
                                                                 ("truth", "ecsv"), ("record", "json"))}
    entry = build_cube(dataset=config["dataset"], observation=ind["observation"], pwv_mm=ind["pwv_mm"],
                       field=ind["fields"][kind], seed=config["seed"], cube=cube, **files)
    return files, entry


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    from workflow_lib import config

    cfg = config.load("tests/data/tiny.yaml")
    cfg["independent"]["fields"]["wide"]["n_sources"] = [3, 3]
    out = tmp_path_factory.mktemp("independent")
    return cfg, out, *_build(cfg, "wide", out)


def test_casa_noise_and_truth_snr(wide):
    cfg, out, files, entry = wide
    dirty, header = fitsio.read_cube(files["dirty"])
    truth = Table.read(files["truth"])
    record = json.loads(open(files["record"]).read())
    assert dirty.shape == (cfg["dataset"]["nchan"], 64, 64) and header["BUNIT"] == "Jy/beam"
    assert fitsio.read_beam(files["dirty"]) == pytest.approx(record["beam_arcsec"])
    psf, _ = fitsio.read_cube(files["psf"])          # tclean's dirty beam, for the Blobs Finder's tiles
    assert psf.shape == dirty.shape and psf[:, 32, 32] == pytest.approx(1.0, abs=1e-5) and psf.max() <= 1 + 1e-5
    assert record["thermal_noise"]["mode"] == "tsys-atm" and len(truth) == 3 == record["sources"]
    rms = record["noise_rms_jy_per_beam"]
    # CASA's own noise: its level is what the dirty cube shows away from the sources
    assert robust_rms(dirty) == pytest.approx(rms, rel=0.15)
    np.testing.assert_allclose(truth["snr"], truth["peak_jy_beam"] / rms, rtol=1e-12)
    # the truth SNR is on the dirty cube's scale: a bright source's dirty peak at its line centre
    bright = truth[np.argmax(truth["snr"])]
    chan, y, x = (int(round(bright[k])) for k in ("line_centre_chan", "y_pix", "x_pix"))
    assert bright["snr"] > 20
    assert dirty[chan, y - 1:y + 2, x - 1:x + 2].max() == pytest.approx(bright["peak_jy_beam"], abs=4 * rms)
    # sources placed uniformly, not the brightest at the field centre
    assert np.hypot(bright["x_pix"] - 32, bright["y_pix"] - 32) > 1


def test_a_cube_is_rebuilt_bit_for_bit_and_cubes_differ(wide, tmp_path):
    cfg, _, files, _ = wide
    again, _ = _build(cfg, "wide", tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = _build(cfg, "wide", tmp_path / "other", cube="wide_01")
    a, b, c = (fitsio.read_cube(f["dirty"])[0] for f in (files, again, other))
    assert np.array_equal(a, b)
    assert np.array_equal(Table.read(files["truth"])["snr"], Table.read(again["truth"])["snr"])
    assert not np.allclose(a, c)


def test_an_empty_field_holds_noise_only(tmp_path):
    from workflow_lib import config

    cfg = config.load("tests/data/tiny.yaml")
    files, entry = _build(cfg, "sparse", tmp_path)
    dirty, _ = fitsio.read_cube(files["dirty"])
    assert len(Table.read(files["truth"])) == 0 and entry["sources"] == 0
    assert dirty.std() == pytest.approx(entry["noise_rms_jy_per_beam"], rel=1e-6)
