"""What made an output: package versions and a hash of the parameters used.

Every FITS file and table the workflow writes carries this record, so a file
found on disk can be traced back to the configuration that produced it.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import metadata

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
    return {"versions": versions(), "params": params, "params_hash": params_hash(params)}


def stamp_header(header, params) -> None:
    """Add versions and the parameter hash to a FITS header (in place)."""
    header["ORIGIN"] = "workflow_lib"
    header["PARHASH"] = (params_hash(params), "sha256[:16] of the generating parameters")
    for name, version in versions().items():
        header.add_history(f"{name}=={version}")
    text = canonical_json(params)
    for start in range(0, len(text), 64):
        header.add_history("params " + text[start:start + 64])


def write_effective_config(*, config: dict, out: str) -> None:
    """The validated configuration with its defaults filled in, as YAML headed by its hash."""
    import yaml

    text = yaml.safe_dump(config, sort_keys=False)
    with open(out, "w") as fh:
        fh.write(f"# validated configuration, defaults filled in; hash {params_hash(config)}\n{text}")
