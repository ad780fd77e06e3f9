"""One simulated observation: simobserve (noise-free) followed by thermal noise."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from .. import provenance, seeds
from ..casa import check_epoch
from ..fitsio import Grid, read_cube
from .casa_backend import simobserve
from .noise import add_thermal_noise


def simulate_observation(*, skymodel: str, ms: str, record: str, observation: dict, noise: dict, seed: int,
                         stream: list, casa_log: str | None = None) -> dict:
    """Write a noisy measurement set ``ms`` and a JSON record (``record``) of the noise actually added.

    ``stream`` names the random stream (e.g. ``["cube", 3]``) so that every
    observation gets independent, reproducible noise.
    """
    check_epoch(observation["ref_date"])
    _, header = read_cube(skymodel)
    grid = Grid.from_header(header, skymodel)
    try:
        simobserve(skymodel, ms, observation, casa_log)
        added = add_thermal_noise(ms, noise, seeds.rng(seed, "noise", *stream), grid.nx, grid.cell_arcsec)
    except BaseException:
        shutil.rmtree(ms, ignore_errors=True)
        raise
    logging.getLogger(__name__).info("noise: %s", json.dumps(added, default=str))
    added = {**added, **provenance.record({"observation": observation, "noise": noise, "seed": seed,
                                           "stream": list(stream)})}
    Path(record).write_text(json.dumps(added, indent=2, default=str) + "\n")
    return added
