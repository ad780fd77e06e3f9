"""The run comparison ignores only what records the run (dates, wall times, logs) and catches the rest."""

import json

import numpy as np
from astropy.io import fits

from run_products import differences


def write_run(root, *, pixel=1.0, date="2026-01-01", wall=1.5, flux="0.25", log="ran", seconds=3.0):
    (root / "cubes" / "cube_0000").mkdir(parents=True)
    (root / "tables").mkdir()
    (root / "logs").mkdir()
    data = np.zeros((4, 4), np.float32)
    data[1, 2] = pixel
    hdu = fits.PrimaryHDU(data)
    hdu.header["DATE"] = date
    hdu.header["BUNIT"] = "Jy/beam"
    hdu.writeto(root / "cubes" / "cube_0000" / "dirty.fits")
    (root / "tables" / "peaks.csv").write_text(f"source,flux,tclean_s\n0,{flux},{wall}\n")
    (root / "tables" / "speed.csv").write_text(f"rule,wall\nx,{wall}\n")
    (root / "record.json").write_text(json.dumps({"rms": 0.5, "simobserve_s": seconds}))
    (root / "logs" / "x.log").write_text(log)


def test_run_records_are_ignored(tmp_path):
    write_run(tmp_path / "a")
    write_run(tmp_path / "b", date="2026-02-02", wall=9.0, log="ran again", seconds=7.0)
    assert differences(tmp_path / "a", tmp_path / "b") == []


def test_science_differences_are_found(tmp_path):
    write_run(tmp_path / "a")
    write_run(tmp_path / "b", pixel=1.0000001, flux="0.26")
    (tmp_path / "b" / "tables" / "extra.csv").write_text("x\n1\n")
    found = differences(tmp_path / "a", tmp_path / "b")
    assert found == [f"only in {tmp_path / 'b'}: tables/extra.csv", "cubes/cube_0000/dirty.fits: HDU 0 data",
                     "tables/peaks.csv: row 0 columns ['flux']"]


def test_header_and_json_changes_are_found(tmp_path):
    write_run(tmp_path / "a")
    write_run(tmp_path / "b")
    with fits.open(tmp_path / "b" / "cubes" / "cube_0000" / "dirty.fits", mode="update") as hdul:
        hdul[0].header["BUNIT"] = "Jy/pixel"
    (tmp_path / "b" / "record.json").write_text(json.dumps({"rms": 0.6, "simobserve_s": 3.0}))
    assert differences(tmp_path / "a", tmp_path / "b") == [
        "cubes/cube_0000/dirty.fits: HDU 0 header cards ['BUNIT']", "record.json: values other than wall times"]


def test_configuration_times_are_compared(tmp_path):
    """integration_s is an observation setting, not a wall time."""
    write_run(tmp_path / "a")
    write_run(tmp_path / "b")
    for run, value in (("a", 10), ("b", 30)):
        (tmp_path / run / "record.json").write_text(json.dumps({"rms": 0.5, "integration_s": value}))
    assert differences(tmp_path / "a", tmp_path / "b") == ["record.json: values other than wall times"]
