"""Lightning pieces both trainers share: DDP-averaged validation metrics and why a fit stopped.

They live in the lowest layer because ``audio2mouth`` and ``renderer`` never import
each other; nothing here touches media or landmarks.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, Timer


class MeanOverRanks(pl.Callback):
    """Replace each ``val/*`` epoch metric by its mean over the DDP processes.

    The modules log validation metrics without ``sync_dist``, so under DDP every rank
    holds the mean over its own shard of the held-out block. Averaging here, before
    early stopping, checkpointing and the exports read the value (this callback must
    come first in the list), makes every rank decide on the same number, and that
    number is the 1-process metric up to the sampler's padding (at most one repeated
    item per rank). Shards differ in size by at most that one item, so a plain mean
    is the pooled mean. With one process it does nothing.
    """

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size < 2 or trainer.sanity_checking:
            return
        for key in sorted(k for k in trainer.callback_metrics if k.startswith("val/")):
            value = torch.as_tensor(trainer.callback_metrics[key], dtype=torch.float32, device=pl_module.device)
            trainer.callback_metrics[key] = trainer.strategy.reduce(value, reduce_op="mean")


def stop_record(trainer: pl.Trainer) -> dict:
    """How ``trainer.fit`` ended, for fit's plan and summary (plain JSON types).

    ``stopped``: ``early_stopping`` (the monitored metric stopped improving),
    ``budget`` (``trainer.max_time`` ran out), ``max_epochs`` (all epochs ran) or
    ``interrupted``. ``train_s`` is the wall time of training including validation,
    summed over resumed runs (Lightning's Timer keeps it in the checkpoint); None
    without a time limit. ``epochs`` counts completed epochs.
    """
    early = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if trainer.interrupted:
        stopped = "interrupted"
    elif early is not None and early.stopped_epoch > 0:
        stopped = "early_stopping"
    elif timer is not None and timer.time_remaining() is not None and timer.time_remaining() <= 0:
        stopped = "budget"
    else:
        stopped = "max_epochs"
    return {
        "stopped": stopped,
        "epochs": int(trainer.current_epoch),
        "max_epochs": trainer.max_epochs,
        "train_s": round(float(timer.time_elapsed("train")), 2) if timer is not None else None,
        "max_time_s": round(float(timer._duration), 2) if timer is not None and timer._duration else None,
    }
