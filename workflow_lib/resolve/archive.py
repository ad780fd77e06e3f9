"""Measurement sets into the workflow's resources: a local copy, an imported uvfits file, or a checked download
from a public archive.

Shared input data are read-only; the copy is writable because tclean locks
and writes into the measurement set it images. Downloads happen only when
the config allows the network, and their SHA-256 must match the config (a
missing checksum is recorded beside the data at the first download, for the
user to pin).
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

from .. import msio, provenance

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def _make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def _install(tree: Path, dest: Path) -> None:
    """Check that ``tree`` is a measurement set and move it to ``dest``."""
    msio.require_ms(tree)
    _make_writable(tree)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tree, dest)


def copy_ms(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    source, dest = Path(source), Path(dest)
    msio.require_ms(source)
    tmp = dest.with_name(f".{dest.name}.copy")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    _install(tmp, dest)
    log.info("copied %s to %s", source, dest)


# random-group parameters a uvfits file needs for visibilities RESOLVE and tCLEAN can use
UVFITS_PARAMETERS = ("UU", "VV", "WW", "DATE", "BASELINE")


def check_uvfits(path: str | os.PathLike) -> None:
    """Refuse, naming the file and what is missing, a uvfits file CASA's importuvfits could not make usable."""
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: uvfits file does not exist")
    try:
        with fits.open(path) as hdul:
            header = hdul[0].header
    except OSError as exc:
        raise ValueError(f"{path}: not a FITS file ({exc})") from None
    if not header.get("GROUPS"):
        raise ValueError(f"{path}: not a uvfits file: its primary HDU holds no random groups (GROUPS = T)")
    names = [str(header.get(f"PTYPE{i}", "")).strip().upper() for i in range(1, int(header.get("PCOUNT", 0)) + 1)]
    missing = [p for p in UVFITS_PARAMETERS if not any(n.startswith(p) for n in names)]
    if missing:
        raise ValueError(f"{path}: the random groups lack the parameters {missing} (they have {names})")


def import_uvfits(source: str | os.PathLike, dest: str | os.PathLike, casa_log: str | None = None) -> None:
    """A uvfits file as a measurement set at ``dest``, through CASA's importuvfits."""
    from ..casa import casa

    source, dest = Path(source), Path(dest)
    check_uvfits(source)
    tmp = dest.with_name(f".{dest.name}.import")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        casa(casa_log).tasks.importuvfits(fitsfile=str(source.resolve()), vis=str(tmp.resolve()))
        _install(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("imported %s as %s", source, dest)


def _extract(tar: tarfile.TarFile, members: list, dest: Path, url: str) -> None:
    """Extract ``members`` safely: tarfile's "data" filter where this Python has it (3.11.4+), else the same
    refusal of absolute paths, ``..`` and links by hand."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=members, filter="data")
        return
    for m in members:
        if m.name.startswith("/") or ".." in Path(m.name).parts or m.issym() or m.islnk():
            raise ValueError(f"{url}: unsafe archive member {m.name!r}")
    tar.extractall(dest, members=members)


def download_ms(url: str, member: str, dest: str | os.PathLike, sha256: str | None, network: bool) -> None:
    """Download the tarball at ``url``, verify it, extract the measurement set ``member`` to ``dest``."""
    dest = Path(dest)
    if not network:
        raise RuntimeError(f"{dest}: not downloading {url} because the network is off; run with --config "
                           f"network=true to fetch the public data, or put the measurement set at {dest} yourself")
    scratch = dest.with_name(f".{dest.name}.download")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tarball = scratch / "archive.tgz"
    try:
        log.info("downloading %s", url)
        with urllib.request.urlopen(url) as response, open(tarball, "wb") as fh:
            shutil.copyfileobj(response, fh, CHUNK)
        digest = provenance.file_sha256(tarball)
        if sha256 is None:
            log.warning("%s has SHA-256 %s; pin it as data.sha256 in the config", url, digest)
        elif digest != sha256:
            raise ValueError(f"{url}: SHA-256 {digest} does not match the configured {sha256}")
        with tarfile.open(tarball) as tar:
            _extract(tar, [m for m in tar.getmembers()
                           if m.name == member or m.name.startswith(member.rstrip("/") + "/")], scratch / "x", url)
        if not (scratch / "x" / member).is_dir():
            raise ValueError(f"{url}: the archive holds no measurement set {member!r}")
        _install(scratch / "x" / member, dest)
        Path(f"{dest}.sha256").write_text(f"{digest}  {url}\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
