"""tCLEAN on test cubes of the dataset: the same visibilities, noise draw included, behind their dirty cubes.

The visibilities of cube ``i`` are re-made from its sky model with the
dataset's noise stream ``seeds.rng(seed, "noise", "dataset", i)`` and the
cube's recorded noise RMS (see :func:`..simulate.ducc_backend.cube_visibilities`),
written into a copy of the setup's template measurement set and cleaned. A
dataset whose noise was drawn in the image domain (``dataset.noise_draw:
image``) has no visibilities behind it: tCLEAN then images the same sky with an
independent visibility noise draw of the same RMS (stream ``"noise", "tclean"``),
which the timing record says. With a guard ring (``dataset.guard_pix``) the
visibilities are those of the whole simulated sky, re-made from the config and
checked against the stored tile; tCLEAN images the simulation grid and its
image and model are cut to the tile, as the dirty cubes were.
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

from ... import fitsio, provenance, seeds, skymodels
from ...dataset.torch_dataset import CubeDataset
from ...imaging import tclean_to_fits
from ...simulate.coverage import Coverage, write_visibilities
from ...simulate.ducc_backend import ChannelImager, cube_visibilities


def tclean_cube(*, manifest: str, coverage: str, template_ms: str, index: int, dataset: dict, observation: dict,
                seed: int, method: dict, niter: int, image: str, model: str, timing: str, casa_log: str | None = None,
                params=None) -> dict:
    """tclean test cube ``index`` of the ``dataset`` into the FITS ``image`` and ``model``, timed (``timing``)."""
    spec = dataset
    ds = CubeDataset(manifest, "test", ("model",))
    if index not in ds.indices:
        raise ValueError(f"cube {index} is not in the test split of {manifest}")
    stored = ds[ds.indices.index(index)]["model"].numpy()
    # the stored precision, so that the visibilities are the dataset's whatever the ring
    sky = skymodels.training_cube(spec, observation, seed, index)[0].astype(np.float32)
    guard = spec["guard_pix"]
    if not np.array_equal(skymodels.tile_of(sky, guard), stored):
        raise ValueError(f"{manifest}: test cube {index} is not the one this config simulates (seed, dataset or "
                         "observation changed since the dataset was built)")
    sky = sky.astype(np.float64)
    grid = skymodels.simulation_grid(spec, observation)
    rms = ds.noise_rms(index)
    imager = ChannelImager(Coverage.load(coverage), epsilon=spec["epsilon"], weighting=spec["weighting"],
                           robust=spec["robust"])
    same_draw = spec["noise_draw"] == "visibilities"
    stream = ("noise", "dataset", index) if same_draw else ("noise", "tclean", index)
    vis = cube_visibilities(imager, sky, rms, seeds.rng(seed, *stream))
    first = Path(image).resolve()
    scratch = Path(tempfile.mkdtemp(prefix=f".tclean_{index}.", dir=first.parent))
    try:
        ms = scratch / "cube.ms"
        write_visibilities(template_ms, str(ms), vis, rms * np.sqrt(imager.nrow))
        grid_fits = scratch / "grid.fits"
        fitsio.write_cube(grid_fits, sky, grid.header("Jy/pixel"))
        started = time.perf_counter()
        tclean_to_fits(ms=str(ms), skymodel=str(grid_fits), method=method, niter=niter, casa_log=casa_log,
                       params=params, image=image, model=model)
        seconds = time.perf_counter() - started
        for path in (image, model):
            fitsio.crop_border(path, guard)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record = {"index": index, "tclean_seconds": seconds, "niter": niter, "method": method,
              "noise": "the dataset's draw" if same_draw else "an independent draw of the same RMS",
              **provenance.record(params)}
    Path(timing).write_text(json.dumps(record, indent=1, default=str) + "\n")
    return record
