"""Figures of the DeepFocus evaluation, each as PNG (the report's) and PDF (the paper's)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from ...figures import save  # noqa: E402
from .. import operating_point  # noqa: E402
from .matching import binned_rates  # noqa: E402


# the study's reported points (completeness, contamination): Blobs Finder in 2-D, DeepGRU in 1-D
STUDY_POINTS = {"study Blobs Finder (2-D)": (0.89, 0.001), "study DeepGRU (1-D)": (0.99, 0.0002)}


def completeness(stages: dict, threshold: float, pybdsf_thresh_pix: float, edges, png: Path, pdf: Path
                 ) -> None:
    """Completeness per true-SNR bin and contamination per measured-SNR bin, DeepFocus and PyBDSF."""
    curves = [(stages[key], threshold, label, "o-", None)
              for key, threshold, label in (("blobsfinder_2d", -np.inf, "Blobs Finder 2-D"),
                                            ("deepfocus_3d", threshold, "DeepFocus 3-D"),
                                            ("deepfocus_2d", threshold, "DeepFocus 2-D"),
                                            ("pybdsf_2d", pybdsf_thresh_pix,
                                             f"PyBDSF (thresh_pix={pybdsf_thresh_pix:g})"))]
    _rates(curves, edges, png, pdf)


def independent_completeness(sets: dict, threshold: float, pybdsf_thresh_pix: float, edges, png: Path,
                             pdf: Path) -> None:
    """Completeness per true-SNR bin and contamination per measured-SNR bin of DeepFocus 3-D, smooth-and-clip and
    PyBDSF on each test set (``sets``: label -> its stages)."""
    curves = [(stages[key], cut, f"{stages[key].name}, {label}", style, colour)
              for (label, stages), style in zip(sets.items(), ("o-", "s--"))
              for key, cut, colour in (("deepfocus_3d", threshold, "tab:green"),
                                       ("smooth_clip_3d", -np.inf, "tab:blue"),
                                       ("pybdsf_2d", pybdsf_thresh_pix, "grey"))]
    _rates(curves, edges, png, pdf)


def _rates(curves: list, edges, png: Path, pdf: Path) -> None:
    """Two panels of (detections, threshold, label, line style, colour) curves: completeness, contamination."""
    centres = np.sqrt(np.maximum(edges[:-1], 0.5) * np.asarray(edges[1:]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for detections, threshold, label, style, colour in curves:
        found, true_snr, real, pred_snr = detections.flags(threshold)
        table = binned_rates(true_snr, found, pred_snr, real, edges)[1:]
        axes[0].plot(centres, table["completeness"], style, color=colour, label=label)
        axes[1].plot(centres, table["contamination"], style, color=colour, label=label)
    for ax, what, along in ((axes[0], "completeness", "true SNR"), (axes[1], "contamination", "measured SNR")):
        ax.set_xscale("log")
        ax.set_xlabel(along)
        ax.set_ylabel(what)
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save(fig, png, pdf)


def purity_completeness(point: dict, stages: dict, pybdsf_thresh_pix: float, png: Path, pdf: Path) -> None:
    """Completeness against purity: the validation curves of each candidate (rule and ranking; 3-D, as the
    threshold varies) with the chosen point, DeepFocus on the test split at that point, PyBDSF on the test
    split along its peak threshold and at its default, and the study's two points."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for c in point["candidates"].values():
        rows = np.array(c["curve"]).reshape(-1, 3)
        ax.plot(1 - rows[:, 2], rows[:, 1], "-", lw=1,
                label=f"DeepFocus 3-D by {c['ranking']}, rule {c['rule']} (validation)")
    chosen = point["candidates"][operating_point.label(point)]
    ax.plot(1 - chosen["contamination"], chosen["completeness"], "k*", ms=12,
            label=f"operating point (validation, {operating_point.label(point)})")
    for key, marker, colour, name in (("deepfocus_3d", "s", "tab:green", "DeepFocus 3-D (test)"),
                                      ("deepfocus_2d", "D", "tab:purple", "DeepFocus 2-D (test)")):
        found, contamination = stages[key].rates(point["threshold"])
        ax.plot(1 - contamination, found, marker, color=colour, ms=8, mfc="none", mew=1.5, label=name)
    scores = np.concatenate(stages["pybdsf_2d"].scores) if stages["pybdsf_2d"].scores else np.zeros(0)
    if scores.size:
        rows = stages["pybdsf_2d"].sweep(np.unique(np.quantile(scores, np.linspace(0, 1, 40))))
        ax.plot(1 - rows[:, 2], rows[:, 1], ":", color="grey", label="PyBDSF 2-D along thresh_pix (test)")
    found, contamination = stages["pybdsf_2d"].rates(pybdsf_thresh_pix)
    ax.plot(1 - contamination, found, "o", color="grey", ms=8,
            label=f"PyBDSF thresh_pix={pybdsf_thresh_pix:g} (test)")
    for (label, (found, contamination)), marker in zip(STUDY_POINTS.items(), ("^", "v")):
        ax.plot(1 - contamination, found, marker, color="tab:red", ms=9, label=label)
    ax.axvline(1 - point["target_contamination"], color="k", lw=0.6, ls="--")
    ax.set_xlabel("purity (1 - contamination)")
    ax.set_ylabel("completeness")
    ax.set_xlim(0.5, 1.01)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    save(fig, png, pdf)


def residual_histograms(residuals: dict, png: Path, pdf: Path) -> None:
    names = [n for n, (r, _) in residuals.items() if len(r)]
    cols = 4
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.5 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        r = residuals[name][0]
        lo, hi = np.percentile(r, [2, 98])
        ax.hist(np.clip(r, lo, hi), bins=30)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, png, pdf)


EXAMPLES_TITLE = "DeepFocus example predictions on test cubes"
TRUE_BOX = {"edgecolor": "cyan", "linestyle": "-"}
PREDICTED_BOX = {"edgecolor": "orangered", "linestyle": "--"}
THRESHOLD_COLOUR = "lime"
JY_CHANNEL = "Jy/beam × channel"  # images summed over channels


def examples(panels: list, png: Path, pdf: Path) -> None:
    """One row per example cube (see :mod:`.examples`): (a) integrated dirty image with true and predicted boxes,
    (b) Blobs Finder map and threshold, then per detected source (c) spectrum, DeepGRU probability and line
    ranges and (d) focused image with its Global SNRs."""
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, "no test cube with two or more true sources and a detection", ha="center", va="center")
        ax.axis("off")
        fig.suptitle(EXAMPLES_TITLE)
        save(fig, png, pdf)
        return
    cols = 2 + 2 * max(1, *(len(e.sources) for e in panels))
    fig, axes = plt.subplots(len(panels), cols, figsize=(3.3 * cols, 3.1 * len(panels)), squeeze=False)
    for row, ex in zip(axes, panels):
        _pixel_image(row[0], ex.integrated, f"(a) cube {ex.index}: integrated dirty image", JY_CHANNEL, "gray")
        for boxes, style in ((ex.true_boxes, TRUE_BOX), (ex.predicted_boxes, PREDICTED_BOX)):
            for box in boxes:
                _box(row[0], box, style)
        _pixel_image(row[1], ex.probability, f"(b) Blobs Finder map, threshold {ex.threshold:g}", "probability",
                     "magma", vmin=0, vmax=1)
        if ex.probability.min() < ex.threshold < ex.probability.max():
            row[1].contour(ex.probability, levels=[ex.threshold], colors=THRESHOLD_COLOUR, linewidths=1)
        for k, source in enumerate(ex.sources):
            _spectrum_panel(row[2 + 2 * k], source)
            _focused_panel(row[3 + 2 * k], source)
        for ax in row[2 + 2 * len(ex.sources):]:
            ax.axis("off")
    handles = [Line2D([], [], color=TRUE_BOX["edgecolor"], ls=TRUE_BOX["linestyle"], label="true box"),
               Line2D([], [], color=PREDICTED_BOX["edgecolor"], ls=PREDICTED_BOX["linestyle"],
                      label="predicted box (catalogue in (a), after focusing in (d))"),
               Line2D([], [], color=THRESHOLD_COLOUR, label="Blobs Finder threshold"),
               Line2D([], [], color="k", lw=0.8, label="box-summed dirty spectrum"),
               Line2D([], [], color="tab:blue", label="DeepGRU emission probability"),
               Patch(facecolor="tab:green", alpha=0.3, label="true line range"),
               Patch(facecolor="none", edgecolor="tab:orange", hatch="///", label="predicted line range")]
    fig.suptitle(EXAMPLES_TITLE)
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=9, frameon=False)
    save(fig, png, pdf)


def _pixel_image(ax, image: np.ndarray, title: str, unit: str, cmap: str, vmin=None, vmax=None) -> None:
    im = ax.imshow(image, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x [pixel]")
    ax.set_ylabel("y [pixel]")
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.02).set_label(unit, fontsize=8)


def _box(ax, box, style: dict) -> None:
    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="none", lw=1.2, **style))


def _spectrum_panel(ax, source) -> None:
    chan = np.arange(source.spectrum.size)
    for lo, hi in source.true_ranges:
        ax.axvspan(lo, hi, color="tab:green", alpha=0.3, lw=0)
    ax.axvspan(*source.range, facecolor="none", edgecolor="tab:orange", hatch="///", lw=1)
    ax.step(chan, source.spectrum, where="mid", color="k", lw=0.8)
    ax.set_xlim(-0.5, chan[-1] + 0.5)
    ax.set_xlabel("channel")
    ax.set_ylabel("flux density in the box [Jy]")
    x, y = (source.box[:2] + source.box[2:]) / 2
    ax.set_title(f"(c) source at ({x:.0f}, {y:.0f}), score {source.score:.2f}", fontsize=9)
    prob = ax.twinx()
    prob.plot(chan, source.emission, color="tab:blue", lw=1)
    prob.set_ylim(0, 1.05)
    prob.set_ylabel("emission probability", color="tab:blue")


def _focused_panel(ax, source) -> None:
    lo, hi = source.range
    title = (f"(d) focused on channels {lo:.1f}-{hi:.1f}\nGlobal SNR {source.snr_integrated:.1f} (integrated) "
             f"$\\rightarrow$ {source.snr:.1f} (focused)")
    _pixel_image(ax, source.focused, title, JY_CHANNEL, "gray")
    _box(ax, source.box, PREDICTED_BOX)
    (x0, y0, x1, y1), ny, nx = source.box, *source.focused.shape
    half = max(x1 - x0, y1 - y0, 16.0)  # half-side of the window shown: the box's larger side, 16 pixels or more
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax.set_xlim(max(cx - half, -0.5), min(cx + half, nx - 0.5))
    ax.set_ylim(max(cy - half, -0.5), min(cy + half, ny - 0.5))
