"""Learn from other anchors first, then from this one (``pretrain_caches=[...]``).

A minute of one anchor is what the networks overfit on (obama_weekly's train block is 18.5 s), and
a studio that trains one model per anchor holds the footage of its other anchors. With
``pretrain_caches`` the run trains twice:

1. a first pass on this clip's train block plus every frame of the other clips, each mapped into
   this clip's lip space as ``data.extra_caches`` are (audio2mouth/extra_footage.py: its own pose
   part removed, turned and scaled onto this clip's reference face, its motion matched to this clip's
   train block); val, test, the PCA and the normalization stay this clip's, as ever. It runs all of
   ``trainer.max_epochs`` and keeps the last weights (no early stopping);
2. a second pass that starts from the first pass's kept networks (``init_from``) and trains on this
   clip alone, with its own early stopping, best epoch and opening gain, its generator's learning
   rate scaled by ``finetune_lr_scale``.

The second pass is the shipped model. The first pass is kept in ``<run>/pretrain/`` (its own model
folder and results.json), and a re-run that finds it complete skips it, so an interrupted fit
resumes into the second pass. Under a time limit (``trainer.max_time``) the first pass gets half.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, open_dict

from landmarks.errors import LipsyncError
from pipeline.budget import lightning_time, max_time_seconds

PRETRAIN_DIR = "pretrain"


def _half_time(max_time) -> str | None:
    """Half of a Lightning ``trainer.max_time`` (None stays None)."""
    seconds = max_time_seconds(max_time)
    return None if seconds is None else lightning_time(seconds / 2)


def first_pass_config(cfg: DictConfig) -> DictConfig:
    """The first pass: this clip plus the pretraining clips, in ``<output_dir>/pretrain``, no refit."""
    first = copy.deepcopy(cfg)
    with open_dict(first):
        first.data.extra_caches = [*(cfg.data.get("extra_caches") or []), *cfg.pretrain_caches]
        first.pretrain_caches = []
        first.init_from = None
        first.refit = False
        first.resume = None
        first.paths.output_dir = str(Path(cfg.paths.output_dir) / PRETRAIN_DIR)
        # A fixed schedule, last weights: this clip's short val block stops a pass over mostly other
        # anchors' speech too early (obama_weekly seed 1 stopped at epoch 11 on epoch 2's weights,
        # and its fine-tuned networks gained nothing; run to the end, they gained 0.022 lip LMD).
        if "early_stopping" in (first.get("callbacks") or {}):
            first.callbacks.early_stopping = None
        first.weights = "last"
        if cfg.trainer.get("max_time"):
            first.trainer.max_time = _half_time(cfg.trainer.max_time)
    return first


def second_pass_config(cfg: DictConfig, first_dir: Path) -> DictConfig:
    """The second pass: this clip alone, from the first pass's networks."""
    second = copy.deepcopy(cfg)
    with open_dict(second):
        second.pretrain_caches = []
        second.init_from = str(first_dir)
        # Fine-tuning at a lower rate stays nearer what the other anchors taught: on obama_weekly
        # (18.5 s of its own) 0.3 lowered the held-out lip LMD on 3 of 3 seeds; on macron, whose
        # French first pass is far off, it raised it, so 1 is the default (docs/audio2mouth.md).
        second.model.optimizer.lr = cfg.model.optimizer.lr * cfg.get("finetune_lr_scale", 1.0)
        if cfg.trainer.get("max_time"):
            second.trainer.max_time = _half_time(cfg.trainer.max_time)
    return second


def pretrain_then_finetune(cfg: DictConfig, train: Callable[..., dict], callbacks=None) -> dict:
    """Run both passes with ``train`` (audio2mouth.train.train); returns the second pass's results,
    with a ``pretrain`` record of the first (its caches, epochs and test figures)."""
    if cfg.get("init_from"):
        raise LipsyncError("pretrain_caches and init_from both set: pretraining makes the networks "
                           "init_from would give; use one of them")
    if not cfg.get("finetune_lr_scale", 1.0) > 0:
        raise LipsyncError(f"finetune_lr_scale must be > 0, got {cfg.finetune_lr_scale}")
    first = first_pass_config(cfg)
    first_dir = Path(first.paths.output_dir)
    done = first_dir / "results.json"
    if done.exists() and (first_dir / "model" / "weights.pt").exists():
        print(f"audio2mouth: reusing the pretraining pass in {first_dir}")
        first_results = json.loads(done.read_text())
    else:
        print(f"audio2mouth: pretraining pass on this clip + {len(cfg.pretrain_caches)} other clip(s)")
        first_results = train(first, callbacks)
    print("audio2mouth: fine-tuning pass on this clip alone")
    results = train(second_pass_config(cfg, first_dir), callbacks)
    results["pretrain"] = {
        "caches": [str(c) for c in cfg.pretrain_caches],
        "dir": str(first_dir),
        "finetune_lr_scale": cfg.get("finetune_lr_scale", 1.0),
        "epochs": first_results.get("epochs"),
        "train_total_s": first_results.get("train_total_s"),
        "test": first_results.get("test"),
        "mse_over_mean_predictor": first_results.get("mse_over_mean_predictor"),
    }
    return results
