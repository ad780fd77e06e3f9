"""DeepFocus's learning curve: completeness at the operating point against the number of training cubes.

Usage: python benchmarks/learning_curve.py [--counts 150 300 600 1200] [--cores 2] [--config OVERLAY]
       [--out benchmarks/learning_curve.md]

For each count, Snakemake builds the DeepFocus tables of a run named ``lc_<count>`` (the demo, or OVERLAY, with
``dataset.count`` set) in one scratch working directory, exactly as ``make demo`` builds them: the training
set, the six models, the operating point on that run's validation split, and the evaluation. The 60-20-20 split
scales with the count, so each run's ducc test split differs; the CASA independent test set (config section
``independent``) is the same cubes for every count and is the curve's fixed yardstick. Per count: the operating
point, completeness and contamination on both test sets, completeness per true-SNR bin on the independent set,
and the wall time of the whole run. Also writes the figure ``<out stem>.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from workflow_runs import ROOT, run_workflow
METHOD = "DeepFocus (3-D)"


def run_count(count: int, work: Path, cores: int, overlay: str | None) -> tuple[Path, float]:
    """The DeepFocus tables of the run with ``count`` training cubes; its results directory and wall seconds."""
    name = f"lc_{count}"
    config = work / f"{name}.yaml"
    base = yaml.safe_load(Path(overlay).read_text()) if overlay else {}
    base.update(name=name)
    base.setdefault("dataset", {})["count"] = count
    config.write_text(yaml.safe_dump(base))
    targets = [f"results/{name}/tables/{t}.csv" for t in ("deepfocus_detection", "deepfocus_independent_detection")]
    return work / "results" / name, run_workflow(work, targets, cores, config)


def summarise(run: Path, count: int, wall: float) -> dict:
    from astropy.table import Table

    from workflow_lib.deepfocus import operating_point

    point = json.loads((run / "deepfocus" / "models" / "operating_point.json").read_text())
    both = Table.read(run / "tables" / "deepfocus_independent_detection.csv")
    row = {"count": count, "point": operating_point.label(point),
           "validation_completeness": point["candidates"][operating_point.label(point)]["completeness"],
           "wall_s": wall}
    for key, label in (("ducc", "ducc test split"), ("casa", "CASA independent")):
        t = both[(both["test_set"] == label) & (both["method"] == METHOD)]
        overall = t[t["snr_bin"] == "all"][0]
        row[f"{key}_completeness"], row[f"{key}_contamination"] = overall["completeness"], overall["contamination"]
        row[f"{key}_n_true"] = int(overall["n_true"])
        if key == "casa":
            row["casa_bins"] = {str(r["snr_bin"]): float(r["completeness"]) for r in t if r["snr_bin"] != "all"}
    return row


def figure(rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [r["count"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(counts, [r["casa_completeness"] for r in rows], "o-", label="CASA independent set (fixed)")
    ax.plot(counts, [r["ducc_completeness"] for r in rows], "s--", label="ducc test split (20% of each run)")
    ax.plot(counts, [r["validation_completeness"] for r in rows], "^:", label="validation, at the chosen point")
    ax.set_xscale("log")
    ax.set_xlabel("training-set cubes (dataset.count)")
    ax.set_ylabel("3-D completeness at the operating point")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[150, 300, 600, 1200])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--config", help="config overlay on config/config.yaml (default: the demo)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "learning_curve.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from workflow_lib import provenance

    rows = []
    with tempfile.TemporaryDirectory(prefix="learning_curve_") as tmp:
        for count in args.counts:
            run, wall = run_count(count, Path(tmp), args.cores, args.config)
            rows.append(summarise(run, count, wall))
            print(json.dumps(rows[-1]), flush=True)
            write(rows, args, Path(args.out), provenance.versions())   # after each count: a partial curve too


def write(rows: list[dict], args, out: Path, versions: dict) -> None:
    figure(rows, out.with_suffix(".png"))
    bins = list(rows[0]["casa_bins"])
    lines = [
        "# DeepFocus learning curve: completeness at the operating point against training-set size",
        "",
        f"`python benchmarks/learning_curve.py --counts {' '.join(map(str, args.counts))} --cores {args.cores}"
        f"{' --config ' + args.config if args.config else ''}` on {os.cpu_count()} cores; "
        f"{json.dumps(versions)}. Figure: [{out.with_suffix('.png').name}]({out.with_suffix('.png').name}).",
        "Each run trains on its own training split and chooses its operating point on its own validation split "
        "(1% target contamination); the CASA independent set is the same for every run.",
        "",
        "| cubes | operating point | validation | ducc test: complete, contam. | CASA independent: complete, "
        f"contam. | CASA per true-SNR bin {' '.join(bins)} | wall min |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['count']} | {r['point']} | {r['validation_completeness']:.1%} | "
          f"{r['ducc_completeness']:.1%}, {r['ducc_contamination']:.1%} ({r['ducc_n_true']}) | "
          f"{r['casa_completeness']:.1%}, {r['casa_contamination']:.1%} ({r['casa_n_true']}) | "
          f"{', '.join(f'{v:.0%}' for v in r['casa_bins'].values())} | {r['wall_s'] / 60:.1f} |" for r in rows],
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
