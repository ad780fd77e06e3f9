"""RESOLVE gives the same bits on 1 and 2 threads, in the exact and in the image-domain mode.

Each run is its own process (``python -m workflow_lib.step``, as a rule runs it), since thread counts are fixed
when ducc0 and numpy load. The measurement set is made by CASA ``simobserve`` with thermal noise, not by the
project's own simulator.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from conftest import ROOT, TINY
from workflow_lib import config, fitsio, skymodels
from workflow_lib.resolve import settings
from workflow_lib.simulate.observe import simulate_observation

# compared byte for byte (the figures are drawings of these numbers); the history also, but for its wall seconds
COMPARED = ("mean", "std", "relative_std", "samples", "power_csv", "hyper_csv", "fit_csv")


@pytest.fixture(scope="module")
def noisy_ms(tmp_path_factory):
    cfg = config.load(TINY)
    tmp = tmp_path_factory.mktemp("determinism")
    image, table, grid = skymodels.continuum_field(cfg["continuum"], cfg["observation"])
    skymodels.write_skymodel(image, table, grid, cfg["continuum"], tmp / "sky.fits", tmp / "sky.ecsv")
    simulate_observation(skymodel=str(tmp / "sky.fits"), ms=str(tmp / "sim.ms"), record=str(tmp / "noise.json"),
                         observation=cfg["observation"], noise={"rms_jy_per_beam": 2e-4}, seed=cfg["seed"],
                         stream=["determinism"], casa_log=str(tmp / "casa.log"))
    return tmp / "sim.ms", cfg


def run_resolve(ms, cfg, mode, threads, out):
    # 128 pixels: ducc0's FFTs thread from 256 x 256 on (the image-domain mode's doubled grid)
    run = config.merge(cfg["resolve"]["runs"]["continuum"], {"response": {"mode": mode},
                                                              "image": {"npix": 128, "cell_arcsec": 0.1}})
    files = {key: str(out / name) for key, name in settings.FILES.items()}
    kwargs = {"ms": str(ms), "run": run, "seed": cfg["seed"], "name": "continuum", "state": str(out / ".state"),
              **files}
    result = subprocess.run([sys.executable, "-m", "workflow_lib.step", "resolve.steps:run", json.dumps(kwargs),
                             str(threads)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return files


@pytest.mark.parametrize("mode", ["psf", "exact"])
def test_same_bits_on_one_and_two_threads(noisy_ms, tmp_path, mode):
    ms, cfg = noisy_ms
    one = run_resolve(ms, cfg, mode, 1, tmp_path / "one")
    two = run_resolve(ms, cfg, mode, 2, tmp_path / "two")
    for key in COMPARED:
        assert open(one[key], "rb").read() == open(two[key], "rb").read(), key
    history = [Table.read(files["history_csv"]) for files in (one, two)]
    for name in history[0].colnames:
        if name != "wall_s":
            assert np.array_equal(history[0][name], history[1][name]), name
    mean, _ = fitsio.read_cube(one["mean"])
    assert np.all(np.isfinite(mean)) and mean.max() > 0
