"""Seconds per test cube: the whole DeepFocus pipeline vs tCLEAN (niter 200), same cubes, same machine, same process.

Usage: python benchmarks/deepfocus_vs_tclean.py [--config config/config.yaml] [--tclean-cubes 3] [--repeats 3]
                                               [--threads 2] [--out benchmarks/deepfocus_vs_tclean.md]

Needs the workflow's dataset and trained models of the config (``snakemake --cores 2``).

* DeepFocus: the models are loaded once; the test split's dirty cubes are
  read into memory and the pipeline (Blobs Finder, DeepGRU, focusing and
  deblending, continuum separation, ResNets, catalogue, model cube) runs on
  all of them in batches; best of ``--repeats`` runs over the cube count.
  A second figure adds reading the cubes from the HDF5 shards and writing
  the catalogue and FITS products of every cube.
* tCLEAN: the first ``--tclean-cubes`` test cubes, their visibilities (the
  dataset's own noise draw) written into a measurement set beforehand; timed
  is the tclean call with the config's method and niter, FITS export included
  (what ``deepfocus_tclean`` times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--tclean-cubes", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "deepfocus_vs_tclean.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.argv = sys.argv[:1]  # casaconfig parses sys.argv when CASA is imported

    import numpy as np
    import torch

    from workflow_lib import config, provenance
    from workflow_lib.dataset.torch_dataset import CubeDataset
    from workflow_lib.deepfocus import operating_point
    from workflow_lib.deepfocus.pipeline import DeepFocus, settings_of, write_products
    from workflow_lib.deepfocus.settings import cube_products, model_files, operating_point_file
    from workflow_lib.deepfocus.trainsets import batches
    from workflow_lib.deepfocus.evaluation.tclean import tclean_cube
    from workflow_lib.simulate.coverage import dataset_template_ms

    torch.set_num_threads(args.threads)
    cfg = config.load(args.config)
    results = ROOT / "results" / cfg["name"]
    manifest = str(results / "dataset" / "manifest.json")
    df_cfg = cfg["deepfocus"]
    models = results / "deepfocus" / "models"
    point = operating_point.load(operating_point_file(models))
    pipeline = DeepFocus.load(model_files(models), settings_of(df_cfg, point))
    ds = CubeDataset(manifest, "test", ("dirty",))
    grid = ds.grid()
    cubes = np.stack([ds[k]["dirty"].numpy() for k in range(len(ds))])
    pipeline.run(cubes[: df_cfg["batch_cubes"]], grid)  # warm-up: lazy initialisation, caches
    compute = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        found = pipeline.run(cubes, grid)
        compute.append((time.perf_counter() - t0) / len(cubes))
    tmp = Path(tempfile.mkdtemp(prefix="bench_deepfocus_"))
    try:
        t0 = time.perf_counter()
        for indices, arrays in batches(ds, df_cfg["batch_cubes"]):
            for index, result in zip(indices, pipeline.run(arrays["dirty"], grid)):
                write_products(result, grid, cube_products(tmp / "products" / f"cube_{index:04d}"))
        with_io = (time.perf_counter() - t0) / len(ds)

        template = tmp / "template.ms"
        dataset_template_ms(dataset=cfg["dataset"], observation=cfg["observation"], out=str(template),
                            casa_log=str(tmp / "casa.log"))
        ev = df_cfg["evaluation"]
        method = cfg["imaging"]["methods"][ev["tclean_method"]]
        tclean = []
        for index in ds.indices[: args.tclean_cubes]:
            record = tclean_cube(manifest=manifest, coverage=str(results / "dataset" / "coverage.h5"),
                                 template_ms=str(template), index=index, dataset=cfg["dataset"],
                                 observation=cfg["observation"], seed=cfg["seed"],
                                 method=method, niter=ev["tclean_niter"], image=str(tmp / f"tclean_{index}_image.fits"),
                                 model=str(tmp / f"tclean_{index}_model.fits"), timing=str(tmp / f"tclean_{index}.json"),
                                 casa_log=str(tmp / "casa.log"))
            tclean.append(record["tclean_seconds"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    deepfocus_s = min(compute)
    tclean_s = float(np.median(tclean))
    record = {
        "config": cfg["name"], "cubes": len(ds), "cube_shape": list(cubes.shape[1:]),
        "sources_found": int(sum(len(r.catalogue) for r in found)), "threads": args.threads,
        "deepfocus_s_per_cube": deepfocus_s, "deepfocus_runs_s_per_cube": compute,
        "deepfocus_with_io_s_per_cube": with_io, "tclean_cubes": len(tclean), "tclean_s_per_cube": tclean,
        "tclean_median_s": tclean_s, "speedup": tclean_s / deepfocus_s, "speedup_with_io": tclean_s / with_io,
        "tclean": {"method": method, "niter": ev["tclean_niter"]}, "machine": platform.platform(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "versions": provenance.versions(),
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    out.write_text("\n".join([
        "# DeepFocus vs tCLEAN: wall seconds per cube",
        "",
        f"`{' '.join(['python', 'benchmarks/deepfocus_vs_tclean.py', *sys.argv[1:]])}` on config `{cfg['name']}` "
        f"({len(ds)} test cubes of {' x '.join(map(str, cubes.shape[1:]))}), {platform.platform()}, "
        f"{os.cpu_count()} CPUs, torch threads {args.threads}, load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| method | seconds per cube | what is timed |",
        "|---|---|---|",
        f"| DeepFocus | {deepfocus_s:.4f} | whole pipeline on {len(ds)} cubes in memory, batches of "
        f"{df_cfg['batch_cubes']}, best of {args.repeats} |",
        f"| DeepFocus with I/O | {with_io:.4f} | + reading the shards, writing catalogue and FITS products |",
        f"| tCLEAN | {tclean_s:.2f} | tclean {method['deconvolver']} {method['weighting']} niter "
        f"{ev['tclean_niter']} + FITS export, median of {len(tclean)} cubes |",
        "",
        f"Speed-up: **{tclean_s / deepfocus_s:.0f}x** ({tclean_s / with_io:.0f}x with I/O); "
        f"the study's target is at least 150x.",
        "",
    ]))
    print(out.read_text())


if __name__ == "__main__":
    main()
