"""The training loop every DeepFocus model uses, and its checkpoints.

* Device: CUDA when present, else CPU; threads as the rule grants them.
* Seeds: the initial weights (re-drawn when training starts), batch order
  and augmentation derive from the config seed (``seeds.rng(seed,
  "deepfocus", name)``), whatever the global torch state was.
* Stages: a model trains on one data set, then may be fine-tuned on another
  (the predictions of the model before it); each stage has its own epochs,
  learning rate and early stopping on its validation set, and ends with the
  best weights.
* Resume: ``resume.pt`` beside the outputs is rewritten atomically after every
  epoch (weights, optimiser, early-stopping state, history, generator state);
  a killed run continues at the next epoch with the same result as an
  uninterrupted one. It carries a fingerprint of the architecture, training
  settings and data, so a run with other parameters starts afresh. It is
  deleted once the model is written.
* Products: ``model.pt`` (architecture name and settings, weights,
  fingerprint, provenance, extra metadata), ``history.csv``, ``loss.png``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import provenance, seeds

log = logging.getLogger(__name__)
BAR = 20


@dataclass
class Stage:
    """One training phase: data (inputs, targets) for training and validation, epochs and learning rate."""

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    validation: tuple[torch.Tensor, torch.Tensor]
    epochs: int
    lr: float


def choose_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def generator(seed: int, name: str) -> torch.Generator:
    """A torch generator (CPU) seeded from the config seed's stream for ``name``; also seeds torch globally."""
    value = int(seeds.rng(seed, "deepfocus", name).integers(2**62))
    torch.manual_seed(value)
    return torch.Generator().manual_seed(value)


def data_digest(stages: list[Stage]) -> str:
    digest = hashlib.sha256()
    for stage in stages:
        for tensor in (*stage.train, *stage.validation):
            digest.update(np.ascontiguousarray(tensor.numpy()).tobytes())
    return digest.hexdigest()[:16]


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_model(path: str | Path, model: torch.nn.Module, params=None, extra: dict | None = None,
               fingerprint: str | None = None) -> None:
    """Weights plus what is needed to rebuild and check them: architecture name, settings, metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save({"architecture": type(model).__name__, "config": model.config,
                  "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "extra": extra or {},
                  "fingerprint": fingerprint, "provenance": provenance.record(params)}, path)


def load_model(path: str | Path, cls: type, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Model of class ``cls`` from a checkpoint, in eval mode, and the checkpoint's extra metadata.

    A checkpoint of another architecture, or weights that do not fit the
    stored settings, is an error naming the file and both architectures.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for foreign files
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    found = ckpt.get("architecture") if isinstance(ckpt, dict) else None
    if found != cls.__name__:
        raise ValueError(f"{path}: checkpoint holds a {found or 'model of unknown architecture'}, "
                         f"expected a {cls.__name__}")
    model = cls(**ckpt["config"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit a {cls.__name__} with settings {ckpt['config']}: {exc}") from exc
    return model.to(device).eval(), ckpt.get("extra", {})


def _batches(n: int, batch_size: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def evaluate(model, loss_fn, data, batch_size: int, device) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for idx in _batches(len(data[0]), batch_size, None):
            x, y = data[0][idx].to(device), data[1][idx].to(device)
            total += float(loss_fn(model(x), y)) * len(idx)
            count += len(idx)
    return total / max(count, 1)


def _progress(name, stage, epoch, epochs, train_loss, val_loss, best, best_epoch, seconds) -> str:
    done = int(round(BAR * epoch / epochs))
    return (f"[{name}] {stage} epoch {epoch:4d}/{epochs} |{'#' * done}{'-' * (BAR - done)}| "
            f"train {train_loss:.5f} val {val_loss:.5f} best {best:.5f} @ {best_epoch} ({seconds:.1f} s)")


def fit(model: torch.nn.Module, loss_fn: Callable, stages: list[Stage], settings: dict, files: dict[str, str],
        name: str, seed: int, params=None, extra: dict | None = None,
        augment: Callable | None = None, device: torch.device | None = None) -> list[dict]:
    """Train ``model`` through ``stages``; ``files`` names the ``model`` checkpoint, the ``history`` CSV, the loss
    ``curve`` PNG and the ``resume`` state (see :data:`.settings.TRAINING_FILES`).

    ``settings``: ``batch_size``, ``patience``, ``weight_decay``. ``augment(x, y, generator)``
    transforms a training batch. Returns the history rows.
    """
    for path in files.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    device = device or choose_device()
    gen = generator(seed, name)
    fingerprint = provenance.params_hash({"architecture": type(model).__name__, "config": model.config,
                                         "settings": settings, "seed": seed, "data": data_digest(stages),
                                         "stages": [(s.name, s.epochs, s.lr) for s in stages]})
    for module in model.modules():  # initial weights from the seeded generator
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    model.to(device)
    state = {"stage": 0, "epoch": 0, "history": [], "best": float("inf"), "best_epoch": 0, "bad": 0,
             "best_state": None, "optimizer": None}
    resume = Path(files["resume"])
    if resume.is_file():
        saved = torch.load(resume, map_location="cpu", weights_only=False)
        if saved.get("fingerprint") == fingerprint:
            model.load_state_dict(saved.pop("model"))
            gen.set_state(saved.pop("generator"))
            torch.set_rng_state(saved.pop("torch_rng"))
            state.update(saved)
            log.info("[%s] resuming stage %d after epoch %d", name, state["stage"], state["epoch"])
        else:
            log.info("[%s] %s was made with other parameters or data: starting afresh", name, resume)
    log.info("[%s] training on %s, %d parameters", name, device, sum(p.numel() for p in model.parameters()))
    for k in range(state["stage"], len(stages)):
        stage = stages[k]
        optimizer = torch.optim.Adam(model.parameters(), lr=stage.lr, weight_decay=settings["weight_decay"])
        if state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
        if state["best_state"] is None:
            state["best_state"] = {key: v.detach().cpu().clone() for key, v in model.state_dict().items()}
        n = len(stage.train[0])
        if n == 0:
            raise ValueError(f"[{name}] stage {stage.name!r} has no training examples")
        while state["epoch"] < stage.epochs and state["bad"] < settings["patience"]:
            started = time.perf_counter()
            model.train()
            total, seen = 0.0, 0
            for idx in _batches(n, settings["batch_size"], gen):
                if len(idx) < 2 and n > 1:  # BatchNorm needs two examples
                    continue
                x, y = stage.train[0][idx], stage.train[1][idx]
                if augment is not None:
                    x, y = augment(x, y, gen)
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            train_loss = total / max(seen, 1)
            val_loss = evaluate(model, loss_fn, stage.validation, settings["batch_size"], device)
            state["epoch"] += 1
            if val_loss < state["best"]:
                state.update(best=val_loss, best_epoch=state["epoch"], bad=0,
                             best_state={key: v.detach().cpu().clone() for key, v in model.state_dict().items()})
            else:
                state["bad"] += 1
            seconds = time.perf_counter() - started
            state["history"].append({"stage": stage.name, "epoch": state["epoch"], "train_loss": train_loss,
                                     "val_loss": val_loss, "lr": stage.lr, "seconds": seconds})
            log.info(_progress(name, stage.name, state["epoch"], stage.epochs, train_loss, val_loss, state["best"],
                               state["best_epoch"], seconds))
            state["optimizer"] = optimizer.state_dict()
            _atomic_save({**state, "stage": k, "fingerprint": fingerprint, "model": model.state_dict(),
                          "generator": gen.get_state(), "torch_rng": torch.get_rng_state()}, resume)
        model.load_state_dict(state["best_state"])
        log.info("[%s] stage %s done: best validation loss %.5f at epoch %d", name, stage.name, state["best"],
                 state["best_epoch"])
        state.update(epoch=0, best=float("inf"), best_epoch=0, bad=0, best_state=None, optimizer=None)
    model.eval()
    save_model(files["model"], model, params, extra, fingerprint)
    write_history(state["history"], Path(files["history"]), Path(files["curve"]), name)
    resume.unlink(missing_ok=True)
    return state["history"]


def write_history(rows: list[dict], csv_path: Path, png_path: Path, title: str) -> None:
    """Loss curves as CSV and PNG (one colour per stage, validation dashed)."""
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["stage", "epoch", "train_loss", "val_loss", "lr", "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    offset = 0
    for i, stage in enumerate(dict.fromkeys(r["stage"] for r in rows)):
        part = [r for r in rows if r["stage"] == stage]
        epochs = [offset + r["epoch"] for r in part]
        ax.plot(epochs, [r["train_loss"] for r in part], color=f"C{i}", label=f"{stage} train")
        ax.plot(epochs, [r["val_loss"] for r in part], color=f"C{i}", ls="--", label=f"{stage} validation")
        offset = epochs[-1]
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
