"""One simulated observation: simobserve (noise-free) followed by thermal noise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import provenance, seeds
from ..casa import check_epoch
from ..fitsio import Grid, read_cube
from .casa_backend import simobserve
from .noise import add_thermal_noise


def simulate_observation(skymodel_fits: str, ms_out: str, record_json: str, observation: dict, noise: dict,
                         seed: int, stream: list, casa_log: str | None = None) -> dict:
    """Write a noisy measurement set ``ms_out`` and a JSON record of the noise actually added.

    ``stream`` names the random stream (e.g. ``["cube", 3]``) so that every
    observation gets independent, reproducible noise.
    """
    check_epoch(observation["ref_date"])
    _, header = read_cube(skymodel_fits)
    grid = Grid.from_header(header, skymodel_fits)
    try:
        simobserve(skymodel_fits, ms_out, observation, casa_log)
        record = add_thermal_noise(ms_out, noise, seeds.rng(seed, "noise", *stream), grid.nx, grid.cell_arcsec)
    except BaseException:
        shutil.rmtree(ms_out, ignore_errors=True)
        raise
    record = {**record, **provenance.record({"observation": observation, "noise": noise, "seed": seed,
                                             "stream": list(stream)})}
    Path(record_json).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return record
