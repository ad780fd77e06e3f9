"""One simulated observation: simobserve (noise-free) followed by thermal noise."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from .. import provenance, seeds
from ..casa import check_epoch
from ..fitsio import Grid, read_cube
from ..skymodels import offset_to_pixel
from .casa_backend import simobserve
from .noise import add_thermal_noise


def simulate_observation(*, skymodel: str, ms: str, record: str, observation: dict, noise: dict, seed: int,
                         stream: list, casa_log: str | None = None, pointings_arcsec: list | None = None) -> dict:
    """Write a noisy measurement set ``ms`` and a JSON record (``record``) of the noise actually added.

    ``stream`` names the random stream (e.g. ``["cube", 3]``) so that every
    observation gets independent, reproducible noise. ``pointings_arcsec``:
    (east, north) offsets from the sky model's centre of a mosaic's pointings
    (None: one pointing at the centre).
    """
    check_epoch(observation["ref_date"])
    _, header = read_cube(skymodel)
    grid = Grid.from_header(header, skymodel)
    pointings = None
    if pointings_arcsec is not None:
        pixels = np.array([offset_to_pixel(grid, east, north) for east, north in pointings_arcsec])
        pointings = list(zip(*grid.celestial_wcs().pixel_to_world_values(pixels[:, 0], pixels[:, 1])))
    try:
        simobserve(skymodel, ms, observation, casa_log, pointings=pointings)
        added = add_thermal_noise(ms, noise, seeds.rng(seed, "noise", *stream), grid.nx, grid.cell_arcsec)
    except BaseException:
        shutil.rmtree(ms, ignore_errors=True)
        raise
    logging.getLogger(__name__).info("noise: %s", json.dumps(added, default=str))
    setup = {"observation": observation, "noise": noise, "seed": seed, "stream": list(stream)}
    if pointings_arcsec is not None:
        setup["pointings_arcsec"] = pointings_arcsec
    added = {**added, **provenance.record(setup)}
    Path(record).write_text(json.dumps(added, indent=2, default=str) + "\n")
    return added
