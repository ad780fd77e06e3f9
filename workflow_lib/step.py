"""Run one library function as a Snakemake job: the shared prologue of every rule (``rules/step.py``).

A rule names its function in ``params: step="module:function"`` (relative to
``workflow_lib``) and runs ``script: "step.py"``. The function is keyword-only
and gets, by name, every *named* input, output and param of the rule (unnamed
ones are for the DAG only), each named log other than ``main`` as
``<name>_log``, ``threads`` if it asks for it, and ``params`` (all the rule's
named params as one dict: what made the outputs, recorded in their headers and
table metadata) if it asks for that. So a rule's keys and the function's
signature are the one interface: a file the function does not take is an error
naming it, and so is a param unless the function records ``params`` (then the
param is only recorded, and the log says so).

Before the function's module is imported, the job's stdout and stderr (CASA's
and ducc0's C++ output too) go to the main log and the thread count is fixed
for OpenMP, ducc0 and PyTorch.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import sys
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _plain(value):
    """Snakemake's IOFile / Namedlist values as str / list, so library code sees ordinary types."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def arguments(func, rule: str, input, output, params, log, threads: int) -> dict:
    """The keyword arguments of ``func`` for one job.

    A named param that ``func`` does not take is only recorded (in ``params``), which needs ``func`` to take
    ``params``; any other name it does not take, or a name given twice, is an error naming it.
    """
    accepted = inspect.signature(func).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    recorded = {k: _plain(v) for k, v in params.items() if k != "step"}
    kwargs, origin = {}, {}
    sources = [("input", input.items()), ("output", output.items()), ("params", recorded.items()),
               ("log", ((f"{k}_log", v) for k, v in log.items() if k != "main"))]
    for kind, items in sources:
        for name, value in items:
            if name in kwargs:
                raise TypeError(f"rule {rule}: {name!r} is both a named {origin[name]} and a named {kind}")
            if name in accepted or takes_any:
                kwargs[name], origin[name] = _plain(value), kind
            elif kind == "params" and "params" in accepted:
                logging.info("rule %s: param %r is recorded only (%s.%s does not take it)", rule, name,
                             func.__module__, func.__name__)
            else:
                raise TypeError(f"rule {rule}: {func.__module__}.{func.__name__} takes no argument {name!r} "
                                f"(named {kind})")
    if "threads" in accepted:
        kwargs["threads"] = threads
    if "params" in accepted:
        kwargs["params"] = recorded
    return kwargs


def _redirect(path: str) -> None:
    """Send this process's stdout and stderr, C-level writes included, to ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def set_threads(threads: int) -> None:
    """Thread count for OpenMP and ducc0 (read when they load) and PyTorch (if loaded).

    numpy's BLAS stays single-threaded: a threaded dot product sums in another order on another thread
    count, and reproducible means the same bits at any thread count.
    """
    os.environ["OMP_NUM_THREADS"] = os.environ["DUCC0_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def function(step: str):
    """The library function named ``module:function`` (relative to ``workflow_lib``)."""
    module_name, _, func_name = step.partition(":")
    return getattr(importlib.import_module(f"workflow_lib.{module_name}"), func_name)


def run(job) -> None:
    """Call the function named by ``job.params.step`` with the job's files and parameters (see module doc)."""
    if len(job.log):
        _redirect(str(job.log.get("main", job.log[0])))  # the log named main, else the only (or first) one
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
    set_threads(job.threads)          # before the libraries load: OpenMP, ducc0, BLAS read the environment
    func = function(job.params.step)
    set_threads(job.threads)          # after: PyTorch, if the module loaded it
    kwargs = arguments(func, job.rule, job.input, job.output, job.params, job.log, job.threads)
    start = time.perf_counter()
    logging.info("rule %s: %s, %d thread(s)", job.rule, job.params.step, job.threads)
    func(**kwargs)
    logging.info("rule %s: done in %.1f s", job.rule, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """``python -m workflow_lib.step MODULE:FUNCTION KWARGS_JSON [THREADS]``: one step as its own process, for
    the benchmarks that time and measure each step as the rules run it."""
    args = sys.argv[1:] if argv is None else argv
    step, kwargs, threads = args[0], json.loads(args[1]), int(args[2]) if len(args) > 2 else 1
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
    set_threads(threads)              # as in run()
    func = function(step)
    set_threads(threads)
    if "threads" in inspect.signature(func).parameters:
        kwargs["threads"] = threads
    sys.argv = sys.argv[:1]  # casaconfig parses sys.argv when CASA is imported
    func(**kwargs)


if __name__ == "__main__":
    main()
