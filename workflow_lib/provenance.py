"""What made an output: package versions, the kind of machine and a hash of the parameters used.

Every FITS file and table the workflow writes carries this record, so a file
found on disk can be traced back to the configuration that produced it.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("workflow_lib", "numpy", "astropy", "casatools", "casatasks", "casadata", "ducc0", "nifty8", "torch", "h5py")


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# numpy's CPU feature groups, widest first: compiled kernels (numpy's, ducc0's FFTs) dispatch on them
SIMD_LEVELS = ("AVX512_SPR", "AVX512_ICL", "AVX512_CNL", "AVX512_CLX", "AVX512_SKX", "AVX512F", "AVX2", "AVX",
               "SSE42", "SVE", "ASIMD", "NEON", "VSX4", "VSX3", "VSX2")


@lru_cache(maxsize=1)
def machine() -> dict[str, str]:
    """The processor and the widest SIMD extension numpy found on it. Kernels take other paths on another kind
    of processor and round differently, and MGVI amplifies a rounding difference, so the same code and inputs
    give the same bits on the same kind of machine (at any thread count), not necessarily on another."""
    import platform

    import numpy as np

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    try:
        features = np._core._multiarray_umath.__cpu_features__
    except AttributeError:
        features = {}
    return {"cpu": cpu, "simd": next((f for f in SIMD_LEVELS if features.get(f)), "baseline")}


def canonical_json(params) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def params_hash(params) -> str:
    """Short, stable hash of a JSON-able parameter set."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()[:16]


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (checksums of shards and downloads)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(params) -> dict:
    """Provenance record for table metadata (ECSV/HDF5 attributes)."""
    return {"versions": versions(), "machine": machine(), "params": params, "params_hash": params_hash(params)}


def stamp_header(header, params) -> None:
    """Add versions and the parameter hash to a FITS header (in place)."""
    header["ORIGIN"] = "workflow_lib"
    header["PARHASH"] = (params_hash(params), "sha256[:16] of the generating parameters")
    for name, version in versions().items():
        header.add_history(f"{name}=={version}")
    for key, value in machine().items():   # one card each: a long CPU name must not cut off the SIMD level
        header.add_history(f"machine {key}={value}")
    text = canonical_json(params)
    for start in range(0, len(text), 64):
        header.add_history("params " + text[start:start + 64])


def write_effective_config(*, config: dict, out: str) -> None:
    """The validated configuration with its defaults filled in, as YAML headed by its hash."""
    import yaml

    text = yaml.safe_dump(config, sort_keys=False)
    with open(out, "w") as fh:
        fh.write(f"# validated configuration, defaults filled in; hash {params_hash(config)}\n{text}")
