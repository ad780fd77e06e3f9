"""PyTorch access to the HDF5 shards: lazy, one cube at a time, safe across DataLoader workers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch
from astropy.io import fits
from astropy.table import Table, vstack

from ..fitsio import Grid

FIELDS = ("dirty", "model", "dirty_integrated", "model_integrated")


class CubeDataset(torch.utils.data.Dataset):
    """Cubes of one split (``train``, ``validation`` or ``test``) of a dataset manifest.

    Items are dicts ``{"index": global cube index, <field>: float32 tensor}``
    for the requested ``fields``; nothing is read before it is asked for.
    HDF5 files are opened per process, so DataLoader workers each get their own.
    """

    def __init__(self, manifest_json: str | os.PathLike, split: str = "train",
                 fields: tuple[str, ...] = ("dirty_integrated", "model_integrated")):
        path = Path(manifest_json)
        manifest = json.loads(path.read_text())
        if split not in manifest["split"]:
            raise ValueError(f"{path}: no split {split!r} (has {', '.join(manifest['split'])})")
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown dataset field(s) {sorted(unknown)}; choose from {FIELDS}")
        self.root = path.parent
        self.fields = tuple(fields)
        self.indices = list(manifest["split"][split])
        self.shards = [self.root / entry["file"] for entry in manifest["shards"]]
        self._where = {}
        for shard, entry in zip(self.shards, manifest["shards"]):
            for j in range(entry["count"]):
                self._where[entry["first"] + j] = (shard, j)
        missing = [i for i in self.indices if i not in self._where]
        if missing:
            raise ValueError(f"{path}: split {split!r} names cubes {missing[:5]} that no shard holds")
        self._files: dict[Path, h5py.File] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_files"] = {}
        return state

    def _open(self, shard: Path) -> h5py.File:
        if self._pid != os.getpid():  # a forked worker must not share the parent's handles
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            if not shard.is_file():
                raise FileNotFoundError(f"{shard}: shard listed in the manifest is missing; rerun snakemake")
            self._files[shard] = h5py.File(shard, "r")
        return self._files[shard]

    def __getitem__(self, k: int) -> dict:
        index = self.indices[k]
        shard, j = self._where[index]
        h5 = self._open(shard)
        item = {"index": index}
        for field in self.fields:
            item[field] = torch.from_numpy(np.asarray(h5[field][j], dtype=np.float32))
        return item

    def sources(self, index: int | None = None) -> Table:
        """Truth catalogue of one cube, or of the whole split when ``index`` is None."""
        wanted = set(self.indices) if index is None else {index}
        tables = []
        for shard in dict.fromkeys(self._where[i][0] for i in wanted):
            rows = Table(self._open(shard)["sources"][...])
            tables.append(rows[np.isin(rows["cube"], list(wanted))])
        return vstack(tables) if tables else Table()

    def noise_rms(self, index: int) -> float:
        """The noise RMS (Jy/beam) recorded for cube ``index`` (global index) of this split."""
        shard, j = self._where[index]
        return float(self._open(shard)["noise_rms"][j])

    def grid(self) -> Grid:
        """Pixel grid and WCS shared by every cube of the dataset."""
        header = fits.Header.fromstring(self._open(self.shards[0]).attrs["grid_header"])
        return Grid.from_header(header, str(self.shards[0]))

    def shared(self, name: str) -> np.ndarray:
        """A per-dataset array: ``psf`` or ``pb`` (nchan, ny, nx)."""
        return self._open(self.shards[0])[name][...]
