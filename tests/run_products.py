"""Compare two runs' results directories, product by product, ignoring only what records the run itself.

What is allowed to differ, and why:
- logs/ and benchmarks/ (wall times, memory), the speed and benchmark tables (nothing but wall times) and
  figures (PDF/PNG carry their creation date; every number in them is in a compared table);
- columns and JSON keys that are wall times (``WALL_TIME_KEYS``; a new timing key shows up as a difference);
- the FITS cards CASA writes about its run: DATE (of writing) and MEMAVAIL (the memory it could see).
Everything else must be the same bits: every FITS data array and card, every ECSV/HDF5/YAML file, every
other CSV cell. ``python tests/run_products.py RESULTS_A RESULTS_B`` prints the differences (for fresh-clone
checks); the SLURM test uses ``differences``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

SKIPPED_DIRS = {"logs", "benchmarks"}
SKIPPED_SUFFIXES = {".pdf", ".png", ".md"}  # figures; .md tables are rendered from the compared .csv
SKIPPED_TABLES = {"speed", "benchmarks"}     # nothing but wall times and memory
RUN_CARDS = {"DATE", "MEMAVAIL"}
WALL_TIME_KEYS = {"compute_seconds", "compute_seconds_per_cube", "deepfocus_s", "io_seconds_per_cube", "load_seconds",
                  "max_s", "mean_s", "seconds", "simobserve_s", "speedup", "tclean_s", "tclean_seconds", "total_s",
                  "wall_s"}


def products(root: Path) -> set[str]:
    out = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_dir() or SKIPPED_DIRS & set(rel.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        if rel.parts[0] == "tables" and path.stem in SKIPPED_TABLES:
            continue
        if any(part.endswith(".ms") for part in rel.parts):  # measurement sets are intermediate (CASA tables)
            continue
        out.add(str(rel))
    return out


def _fits_differ(a: Path, b: Path) -> str | None:
    with fits.open(a) as ha, fits.open(b) as hb:
        if len(ha) != len(hb):
            return f"{len(ha)} vs {len(hb)} HDUs"
        for k, (x, y) in enumerate(zip(ha, hb)):
            cards_x = [(c.keyword, str(c.value)) for c in x.header.cards if c.keyword not in RUN_CARDS]
            cards_y = [(c.keyword, str(c.value)) for c in y.header.cards if c.keyword not in RUN_CARDS]
            if cards_x != cards_y:
                changed = sorted({kx for kx, _ in set(cards_x) ^ set(cards_y)})
                return f"HDU {k} header cards {changed}"
            if (x.data is None) != (y.data is None):
                return f"HDU {k} data present in one only"
            if x.data is not None and not _same_array(x.data, y.data):
                return f"HDU {k} data"
    return None


def _same_array(x, y) -> bool:
    if isinstance(x, fits.FITS_rec) or getattr(x.dtype, "names", None):
        return x.tobytes() == y.tobytes()
    return x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)


def _csv_differ(a: Path, b: Path) -> str | None:
    if a.read_text().splitlines()[:1] != b.read_text().splitlines()[:1]:
        return "columns"
    rows_a, rows_b = (list(csv.DictReader(p.read_text().splitlines())) for p in (a, b))
    if len(rows_a) != len(rows_b):
        return f"{len(rows_a)} vs {len(rows_b)} rows"
    for i, (x, y) in enumerate(zip(rows_a, rows_b)):
        if x.keys() != y.keys():
            return "columns"
        bad = [k for k in x if k not in WALL_TIME_KEYS and x[k] != y[k]]
        if bad:
            return f"row {i} columns {bad}"
    return None


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in WALL_TIME_KEYS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _json_differ(a: Path, b: Path) -> str | None:
    return None if _without_times(json.loads(a.read_text())) == _without_times(json.loads(b.read_text())) \
        else "values other than wall times"


def differences(a: Path, b: Path) -> list[str]:
    """Every product of run ``a`` that is missing in ``b`` or differs beyond the run records above."""
    a, b = Path(a), Path(b)
    pa, pb = products(a), products(b)
    found = [f"only in {a}: {p}" for p in sorted(pa - pb)] + [f"only in {b}: {p}" for p in sorted(pb - pa)]
    for rel in sorted(pa & pb):
        x, y = a / rel, b / rel
        if x.suffix == ".fits":
            why = _fits_differ(x, y)
        elif x.suffix == ".csv":
            why = _csv_differ(x, y)
        elif x.suffix == ".json":
            why = _json_differ(x, y)
        else:
            why = None if x.read_bytes() == y.read_bytes() else "bytes"
        if why:
            found.append(f"{rel}: {why}")
    return found


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    diffs = differences(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(diffs) if diffs else f"same products ({len(products(Path(sys.argv[1])))} files)")
    sys.exit(1 if diffs else 0)
