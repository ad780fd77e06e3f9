"""The dataset's manifest: what was built, from which config, with per-shard checksums, and the split.

The 60-20-20 split is a permutation of the cube indices drawn from the
config's seed, so it is the same on every machine. Shards are verified
against the checksum their job wrote; a bad shard is deleted with a message
naming it, so that the next ``snakemake`` run rebuilds only that shard.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py

from .. import provenance, seeds

SPLITS = ("train", "validation", "test")
log = logging.getLogger(__name__)


def split_indices(count: int, fractions: dict, seed: int) -> dict[str, list[int]]:
    """Deterministic split of ``range(count)`` by the given fractions (train/validation/test)."""
    total = sum(fractions[name] for name in SPLITS)
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"dataset.split fractions add up to {total}, not 1")
    order = seeds.rng(seed, "split").permutation(count)
    n_train = int(round(fractions["train"] * count))
    n_val = int(round(fractions["validation"] * count))
    parts = {"train": order[:n_train], "validation": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return {name: sorted(int(i) for i in idx) for name, idx in parts.items()}


def write_split(*, n_cubes: int, split: dict, seed: int, out: str) -> dict:
    """The seeded split of ``n_cubes`` cubes into the ``split`` fractions, as JSON."""
    record = {"seed": seed, "fractions": split, "count": n_cubes, **split_indices(n_cubes, split, seed)}
    Path(out).write_text(json.dumps(record, indent=1) + "\n")
    log.info("split: %s", {name: len(record[name]) for name in SPLITS})
    return record


def verify_shard(path: str | Path, sidecar: str | Path, delete: bool = True) -> str:
    """Checksum of a shard, compared with its ``.sha256`` ``sidecar``; a mismatch deletes the shard (so that the
    workflow rebuilds it) unless ``delete`` is false."""
    path, sidecar = Path(path), Path(sidecar)
    if not path.is_file() or not sidecar.is_file():
        raise FileNotFoundError(f"{path}: shard or its checksum file is missing; rerun snakemake to rebuild it")
    expected = sidecar.read_text().split()[0]
    actual = provenance.file_sha256(path)
    if actual != expected:
        if not delete:
            raise ValueError(f"{path}: checksum mismatch (truncated or corrupt)")
        path.unlink()
        sidecar.unlink()
        raise ValueError(f"{path}: checksum mismatch (truncated or corrupt); deleted it, rerun snakemake to rebuild "
                         "just this shard")
    return actual


def write_manifest(*, shards: list[str], checksums: list[str], split: str, out: str, params: dict) -> dict:
    """Verify every shard against its checksum file and record them, the split and the config that made them."""
    entries = []
    for path, sidecar in zip(shards, checksums, strict=True):
        checksum = verify_shard(path, sidecar)
        with h5py.File(path, "r") as h5:
            index = h5["index"][...]
        entries.append({"file": Path(path).name, "first": int(index[0]), "count": int(index.size), "sha256": checksum})
    parts = json.loads(Path(split).read_text())
    manifest = {"count": sum(e["count"] for e in entries), "seed": params["seed"], "shards": entries,
                "split": {name: parts[name] for name in SPLITS}, **provenance.record(params)}
    Path(out).write_text(json.dumps(manifest, indent=1, default=str) + "\n")
    log.info("manifest: %d cubes in %d shards", manifest["count"], len(entries))
    return manifest
