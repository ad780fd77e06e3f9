"""The one place that prepares CASA: offline measures, no GUI, logs where we say.

casatools reads its configuration when it is first imported: from the command
line (``sys.argv``), a site config and ``~/.casa/config.py``. We hand it our own
config file (``casa_site_config.py``) with a clean ``sys.argv`` so that

* measures and antenna configurations come from the ``casadata`` wheel and no
  automatic update touches the network,
* a user's ``~/.casa/config.py`` or a site config cannot change our results,
* our own command-line options never reach casaconfig's argument parser,
* CASA's log goes to the rule's log file instead of ``casa-*.log`` in the cwd.

casacore warns "Leap second table TAI_UTC seems out-of-date" (SEVERE, on
stderr) once per process whenever the *wall clock* is more than 180 days past
the table's creation date, whatever epoch is being converted. Our observations
use a fixed reference date that :func:`check_epoch` requires to lie inside the
table's validity, so the warning says nothing about our numbers; we trigger it
once with stderr and the log silenced and record the table date instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from pathlib import Path
from types import SimpleNamespace

_CONFIG_FILE = Path(__file__).with_name("casa_site_config.py")
_modules: SimpleNamespace | None = None


def casa(log_path: str | os.PathLike | None = None) -> SimpleNamespace:
    """Return ``SimpleNamespace(tools=casatools, tasks=casatasks)``, configured offline.

    ``log_path`` (optional) receives CASA's log messages from now on.
    """
    global _modules
    if _modules is None:
        if log_path is not None:
            os.environ["WORKFLOW_CASA_LOG"] = str(Path(log_path).resolve())
        argv = sys.argv
        sys.argv = [argv[0] if argv else "workflow_lib", "--nositeconfig", "--configfile", str(_CONFIG_FILE)]
        try:
            import casatools
            import casatasks
        finally:
            sys.argv = argv
        _modules = SimpleNamespace(tools=casatools, tasks=casatasks)
        _absorb_leap_second_warning(_modules)
    if log_path is not None:
        _modules.tasks.casalog.setlogfile(str(Path(log_path).resolve()))
    return _modules


def antenna_config_path(name: str) -> Path:
    """Path of a named antenna configuration (e.g. ``alma.cycle9.3``) shipped by casadata."""
    import casadata

    root = Path(casadata.datapath) / "alma" / "simmos"
    path = root / (name if name.endswith(".cfg") else f"{name}.cfg")
    if not path.is_file():
        known = sorted(p.stem for p in root.glob("alma.cycle*.cfg"))
        raise ValueError(
            f"observation.antenna_config: unknown antenna configuration {name!r}; "
            f"casadata ships e.g. {', '.join(known[-12:])} (see {root})"
        )
    return path


@contextlib.contextmanager
def working_directory(path: str | os.PathLike):
    """Run a CASA task that writes into the cwd (simobserve) inside ``path``."""
    old = os.getcwd()
    os.makedirs(path, exist_ok=True)
    os.chdir(path)
    try:
        yield Path(path)
    finally:
        os.chdir(old)


LEAP_TABLE_VALIDITY_DAYS = 180  # casacore's own staleness limit


def leap_second_table_date() -> dt.date:
    """Creation date (VS_DATE) of casadata's TAI_UTC leap-second table."""
    import casadata

    tb = casa().tools.table()
    tb.open(str(Path(casadata.datapath) / "geodetic" / "TAI_UTC"))
    try:
        stamp = tb.getkeyword("VS_DATE")
    finally:
        tb.close()
    return dt.datetime.strptime("/".join(stamp.split("/")[:3]), "%Y/%m/%d").date()


def check_epoch(ref_date: str) -> None:
    """Refuse an observation date that casadata's leap-second table does not cover."""
    date = dt.datetime.strptime(ref_date, "%Y/%m/%d").date()
    valid_until = leap_second_table_date() + dt.timedelta(days=LEAP_TABLE_VALIDITY_DAYS)
    if date > valid_until:
        raise ValueError(f"observation.ref_date={ref_date} lies after {valid_until}, the end of the validity of the "
                         "leap-second table shipped by casadata; choose an earlier date")


@contextlib.contextmanager
def _silenced_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _absorb_leap_second_warning(modules: SimpleNamespace) -> None:
    log = modules.tasks.casalog
    current = log.logfile()
    log.setlogfile(os.devnull)
    try:
        with _silenced_stderr():
            me = modules.tools.measures()
            me.measure(me.epoch("utc", "2020/01/01"), "tai")
            me.done()
    finally:
        log.setlogfile(current)
