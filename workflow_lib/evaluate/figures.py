"""Figures of the DeepFocus evaluation (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .matching import binned_rates  # noqa: E402


def completeness(stages: dict, points: dict, edges, path: Path) -> None:
    """Completeness per true-SNR bin and contamination per measured-SNR bin, DeepFocus and PyBDSF."""
    curves = [("blobsfinder_2d", -np.inf, "Blobs Finder 2-D"), ("deepfocus_3d", -np.inf, "DeepFocus 3-D"),
              ("deepfocus_2d", points["deepfocus_matched_score"], "DeepFocus 2-D (matched)"),
              ("pybdsf_2d", points["pybdsf_thresh_pix"], f"PyBDSF (thresh_pix={points['pybdsf_thresh_pix']:g})")]
    centres = np.sqrt(np.maximum(edges[:-1], 0.5) * np.asarray(edges[1:]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, threshold, label in curves:
        found, true_snr, real, pred_snr = stages[key].flags(threshold)
        table = binned_rates(true_snr, found, pred_snr, real, edges)[1:]
        axes[0].plot(centres, table["completeness"], "o-", label=label)
        axes[1].plot(centres, table["contamination"], "o-", label=label)
    for ax, what, along in ((axes[0], "completeness", "true SNR"), (axes[1], "contamination", "measured SNR")):
        ax.set_xscale("log")
        ax.set_xlabel(along)
        ax.set_ylabel(what)
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sweep(stages: dict, path: Path) -> None:
    """Completeness against contamination as the score threshold varies (2-D, same matching)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for key, label in (("deepfocus_2d", "DeepFocus (score)"), ("pybdsf_2d", "PyBDSF (peak SNR)")):
        scores = np.concatenate(stages[key].scores) if stages[key].scores else np.zeros(0)
        thresholds = np.unique(np.quantile(scores, np.linspace(0, 1, 40))) if scores.size else [0.0]
        rows = stages[key].sweep(thresholds)
        ax.plot(rows[:, 2], rows[:, 1], "o-", ms=3, label=label)
    ax.set_xlabel("contamination")
    ax.set_ylabel("completeness")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def residual_histograms(residuals: dict, path: Path) -> None:
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
    fig.savefig(path, dpi=100)
    plt.close(fig)
