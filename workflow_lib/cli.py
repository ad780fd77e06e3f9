"""``alma-imaging``: the workflow's steps a person runs by hand, on their own data.

Each command calls the same library function as the workflow's rule, so a
product made here is the product the workflow makes. Errors end the command
with one line naming the file or key and exit status 1 (``--debug`` shows the
traceback); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import yaml

from .step import LOG_FORMAT, set_threads

PROG = "alma-imaging"
log = logging.getLogger(PROG)


class UsageError(ValueError):
    """A command-line value that cannot work."""


def _measurement_set(path: str, out: Path, name: str) -> str:
    """``path`` if it is a measurement set; a uvfits file is imported as ``<out>/<name>.ms`` first."""
    if Path(path).is_file():
        from .resolve.archive import import_uvfits

        out.mkdir(parents=True, exist_ok=True)
        ms = out / f"{name}.ms"
        import_uvfits(path, ms, str(out / "casa.log"))
        return str(ms)
    return path


def _config(overlay: str | None) -> dict:
    from . import config

    return config.load(*([overlay] if overlay else []))


def cmd_deepfocus(args) -> None:
    """DeepFocus on one FITS dirty cube: catalogue, model cube and continuum image in --out."""
    from .deepfocus import settings
    from .deepfocus.steps import run_cube

    cfg = _config(args.config)
    found = run_cube(args.cube, settings.model_files(args.models), settings.operating_point_file(args.models),
                     settings.cube_products(args.out),
                     cfg["deepfocus"], params={"cube": str(Path(args.cube).resolve()), "deepfocus": cfg["deepfocus"]},
                     psf=args.psf)
    print(f"{found} source(s); products in {args.out}: {', '.join(settings.CUBE_PRODUCTS.values())}")


def run_description(path: str, overlay: str | None) -> tuple[str, str, dict, dict]:
    """(measurement set, run name, checked run settings, config) from a YAML run description.

    The description holds ``ms`` (relative to the file; a measurement set or a uvfits file), optionally ``name``
    and ``seed``, and any keys of a
    ``resolve.runs.<name>`` entry of the workflow config, checked like the workflow's own; whatever it leaves
    out has the schema's default, data-driven where that is null (the config's own runs play no part).
    """
    spec = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(spec, dict) or "ms" not in spec:
        raise UsageError(f"{path}: a run description needs 'ms: <measurement set>'")
    ms = str((Path(path).parent / spec.pop("ms")).resolve())
    name = spec.pop("name", None) or re.sub(r"[^a-z0-9_]", "_", Path(ms).stem.lower())
    seed = spec.pop("seed", None)
    if name == "continuum":
        raise UsageError(f"{path}: the name 'continuum' is the workflow's simulated field; choose another")
    spec["data"] = {**spec.get("data", {}), ("uvfits" if Path(ms).is_file() else "path"): ms}
    from . import config

    cfg = config.load(*([overlay] if overlay else []), overrides={} if seed is None else {"seed": seed})
    cfg["resolve"]["runs"] = {name: spec}
    config.check(cfg)
    return ms, name, cfg["resolve"]["runs"][name], cfg


def cmd_resolve(args) -> None:
    """RESOLVE on a measurement set described by a YAML file; posterior products in --out."""
    ms, name, run, cfg = run_description(args.run, args.config)
    from .resolve import settings
    from .resolve.steps import run as resolve_run

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ms = _measurement_set(ms, out, name)
    files = {key: str(out / file) for key, file in settings.FILES.items()}
    resolve_run(ms=ms, run=run, seed=cfg["seed"], name=name, state=str(out / ".state"), threads=args.threads,
                **files)
    print(f"RESOLVE {name}: products in {out}: {', '.join(settings.FILES.values())}")


def cmd_tclean(args) -> None:
    """The tCLEAN references of a measurement set (dirty image and each --method) as FITS in --out."""
    from .imaging import PRODUCTS_DIRTY, data_selection, product_files, tclean_to_fits
    from .resolve.steps import tclean_grid

    cfg = _config(args.config)
    methods = cfg["imaging"]["methods"]
    unknown = [m for m in args.method if m not in methods]
    if unknown:
        raise UsageError(f"--method {', '.join(unknown)}: not defined in imaging.methods ({', '.join(methods)})")
    field = int(args.field) if args.field and args.field.isdigit() else args.field
    data = {"column": args.column, "field": field, "mosaic": args.mosaic, "spws": args.spw, "channels": None,
            "average_channels": False, "cube": False}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ms = _measurement_set(args.ms, out, "imported")
    grid = str(out / "grid.fits")
    tclean_grid(ms=ms, data=data, npix=args.npix, cell_arcsec=args.cell, fits=grid, params={"data": data})
    selection = data_selection(data)
    casa_log = str(out / "casa.log")
    jobs = [("dirty", None, PRODUCTS_DIRTY)] + [(m, methods[m], None) for m in args.method]
    for name, method, suffixes in jobs:
        log.info("tclean %s", name)
        products = product_files(str(out), name, *([suffixes] if suffixes else []))
        niter = 0 if method is None else args.niter
        tclean_to_fits(ms=ms, skymodel=grid, method=method, niter=niter, threshold_mjy=args.threshold_mjy,
                       selection=selection, casa_log=casa_log,
                       params={"method": method, "niter": niter, "threshold_mjy": args.threshold_mjy,
                               "selection": selection}, **products)
    print(f"tCLEAN: {', '.join(name for name, _, _ in jobs)} in {out} (CASA log {casa_log})")


def cmd_check_dataset(args) -> None:
    """Verify a training set: every shard against its checksum, and the manifest's counts and split."""
    from .dataset.manifest import SPLITS, verify_shard

    manifest_path = Path(args.manifest)
    manifest = json.loads(manifest_path.read_text())
    bad, count = [], 0
    for entry in manifest["shards"]:
        shard = manifest_path.parent / entry["file"]
        try:
            digest = verify_shard(shard, f"{shard}.sha256", delete=False)
        except (OSError, ValueError) as exc:
            bad.append(str(exc))
            continue
        if digest != entry["sha256"]:
            bad.append(f"{shard}: checksum differs from the manifest's")
        count += entry["count"]
        log.info("%s: %d cubes, ok", shard.name, entry["count"])
    indices = sorted(i for name in SPLITS for i in manifest["split"][name])
    if indices != list(range(manifest["count"])):
        bad.append(f"{manifest_path}: the split does not cover cubes 0..{manifest['count'] - 1} exactly once")
    if not bad and count != manifest["count"]:
        bad.append(f"{manifest_path}: shards hold {count} cubes, the manifest says {manifest['count']}")
    if bad:
        raise ValueError("; ".join(bad))
    sizes = ", ".join(f"{name} {len(manifest['split'][name])}" for name in SPLITS)
    print(f"{manifest_path}: {manifest['count']} cubes in {len(manifest['shards'])} shards, all checksums match; "
          f"split {sizes}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("``", ""),
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Run `alma-imaging COMMAND --help` for a command's options.")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, out_help=None, threads_help=None, epilog=None):
        """A subcommand; with ``out_help`` it writes into ``--out`` and takes ``--config``."""
        s = sub.add_parser(name, help=func.__doc__.splitlines()[0], description=func.__doc__, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.set_defaults(func=func)
        if out_help:
            s.add_argument("--out", required=True, help=out_help)
            s.add_argument("--config", help="config overlay on config/config.yaml for the settings (default: "
                           "the demo's)")
        if threads_help:
            s.add_argument("--threads", type=int, default=1, help=threads_help)
        return s

    s = command("deepfocus", cmd_deepfocus, "directory for catalogue.ecsv, model.fits, continuum.fits",
                "CPU threads (default 1)", "example: alma-imaging deepfocus cube.fits "
                "--models results/demo/deepfocus/models --out found/")
    s.add_argument("cube", help="FITS dirty cube (Jy/beam), any size: larger fields are tiled")
    s.add_argument("--models", required=True, help="directory of trained models (<model>/model.pt) and their "
                   "operating point (operating_point.json, chosen on the validation split), as the workflow "
                   "leaves them in results/<name>/deepfocus/models")
    s.add_argument("--psf", help="the cube's PSF (FITS, as tclean writes it): a field larger than the training "
                   "tile is then read without the sidelobes that sources outside each tile cast into it")

    s = command("resolve", cmd_resolve, "directory for the posterior products",
                "threads (default 1; the products are the same on any number)", "example run description (YAML); only ms is needed, the grid, sky offset and noise prior\n"
                "come from the data unless given:\n  ms: hd142527.ms\n  image: {npix: 128, cell_arcsec: 0.04}\n"
                "  response: {mode: psf}")
    s.add_argument("run", help="YAML run description: ms (relative to the file), optional name and seed, and the "
                   "keys of a resolve.runs entry of the workflow config")

    s = command("tclean", cmd_tclean, "directory for <method>.<product>.fits", epilog="example: alma-imaging "
                "tclean hd142527.ms --npix 512 --cell 0.03 --method hogbom_briggs multiscale_briggs --out clean/")
    s.add_argument("ms", help="measurement set, or a uvfits file (imported into --out first)")
    s.add_argument("--npix", type=int, required=True, help="image size in pixels")
    s.add_argument("--cell", type=float, required=True, help="pixel size in arcsec")
    s.add_argument("--method", nargs="*", default=[], help="named methods of imaging.methods (default: dirty only)")
    s.add_argument("--niter", type=int, default=10000, help="CLEAN iterations (default 10000)")
    s.add_argument("--threshold-mjy", type=float, default=0.0, help="CLEAN threshold in mJy (default 0)")
    s.add_argument("--field", help="field id or name (default: the only field with data; several are an error)")
    s.add_argument("--mosaic", action="store_true", help="image every field with data as one mosaic "
                   "(gridder mosaic), centred on the pointings' mean direction")
    s.add_argument("--spw", type=int, nargs="*", help="spectral windows (default: all)")
    s.add_argument("--column", default="DATA", help="data column (default DATA)")

    s = command("check-dataset", cmd_check_dataset)
    s.add_argument("manifest", help="manifest.json of a training set (results/<name>/dataset/manifest.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    set_threads(getattr(args, "threads", 1))
    sys.argv = sys.argv[:1]  # casaconfig parses sys.argv when CASA is imported
    try:
        args.func(args)
    except Exception as exc:  # noqa: BLE001 (one line for the user, the traceback with --debug)
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
