"""tCLEAN on test cubes of the dataset: the same visibilities, noise draw included, behind their dirty cubes.

The visibilities of cube ``i`` are re-made from its sky model with the
dataset's noise stream ``seeds.rng(seed, "noise", "dataset", i)`` and the
cube's recorded noise RMS (see :func:`..simulate.ducc_backend.cube_visibilities`),
written into a copy of the setup's template measurement set and cleaned.
Only the tclean call (gridding, deconvolution, restoration, FITS export) is
timed: that is what an astronomer waits for per cube.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import fitsio, provenance, seeds
from ..dataset.torch_dataset import CubeDataset
from ..imaging import tclean_to_fits
from ..simulate.coverage import Coverage, write_visibilities
from ..simulate.ducc_backend import ChannelImager, cube_visibilities


def tclean_cube(manifest: str, coverage_h5: str, template_ms: str, index: int, spec: dict, seed: int, method: dict,
                niter: int, out: dict[str, str], timing_json: str, casa_log: str | None = None, params=None) -> dict:
    """tclean test cube ``index``; ``out`` maps CASA products (image, model, ...) to FITS paths."""
    ds = CubeDataset(manifest, "test", ("model",))
    if index not in ds.indices:
        raise ValueError(f"cube {index} is not in the test split of {manifest}")
    sky = ds[ds.indices.index(index)]["model"].numpy().astype(np.float64)
    grid = ds.grid()
    rms = ds.noise_rms(index)
    imager = ChannelImager(Coverage.load(coverage_h5), epsilon=spec["epsilon"], weighting=spec["weighting"],
                           robust=spec["robust"])
    vis = cube_visibilities(imager, sky, rms, seeds.rng(seed, "noise", "dataset", index))
    first = Path(next(iter(out.values()))).resolve()
    scratch = Path(tempfile.mkdtemp(prefix=f".tclean_{index}.", dir=first.parent))
    try:
        ms = scratch / "cube.ms"
        write_visibilities(template_ms, str(ms), vis, rms * np.sqrt(imager.nrow))
        grid_fits = scratch / "grid.fits"
        fitsio.write_cube(grid_fits, sky, grid.header("Jy/pixel"))
        started = time.perf_counter()
        tclean_to_fits(str(ms), str(grid_fits), out, method, niter, 0.0, casa_log, params=params)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record = {"index": index, "tclean_seconds": seconds, "niter": niter, "method": method,
              **provenance.record(params)}
    Path(timing_json).write_text(json.dumps(record, indent=1, default=str) + "\n")
    return record
