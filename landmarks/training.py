"""Lightning pieces both trainers share: DDP-averaged validation metrics, why a fit stopped, and
whether another run's weights fit a network (``init_from``).

They live in the lowest layer because ``audio2mouth`` and ``renderer`` never import
each other; nothing here touches media or landmarks.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, Timer


def same_layers(state: dict[str, torch.Tensor], net: torch.nn.Module) -> bool:
    """Whether ``state`` (a saved ``state_dict``) has exactly ``net``'s tensors, name for name and
    shape for shape, so loading it copies every weight and nothing else."""
    mine = net.state_dict()
    return set(state) == set(mine) and all(state[k].shape == mine[k].shape for k in mine)


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


def run_progress(trainer: pl.Trainer) -> float:
    """Fraction [0, 1] of the run done: of its wall-clock ``max_time`` or of its ``max_epochs``,
    whichever ends it first (the larger fraction). Early stopping cannot be foreseen."""
    fractions = [0.0]
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is not None and timer._duration:
        fractions.append(timer.time_elapsed("train") / timer._duration)
    if trainer.max_epochs and trainer.max_epochs > 0 and trainer.num_training_batches not in (0, float("inf")):
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        epochs = trainer.current_epoch + done / trainer.num_training_batches
        fractions.append(epochs / trainer.max_epochs)
    return float(min(max(fractions), 1.0))


class LinearDecay(pl.Callback):
    """Learning rates held for the first ``hold`` of the run, then linearly down to ``floor`` x
    their initial values at its end, as pix2pix does over epochs.

    The run's clock is :func:`run_progress`, so a time-limited fit (``trainer.max_time``, set by
    lipsync-fit from its budget) decays over its time budget: such a run cannot plan a schedule in
    steps. Rates are set on every optimizer's parameter groups before each training batch, which
    works under manual optimization too; the initial rates are kept in the groups as ``initial_lr``.
    """

    def __init__(self, hold: float = 0.5, floor: float = 0.0):
        if not 0.0 <= hold < 1.0 or not 0.0 <= floor <= 1.0:
            raise ValueError(f"LinearDecay needs 0 <= hold < 1 and 0 <= floor <= 1, got {hold}, {floor}")
        self.hold, self.floor = float(hold), float(floor)

    def factor(self, progress: float) -> float:
        """Multiplier of the initial rates at ``progress`` in [0, 1]."""
        if progress <= self.hold:
            return 1.0
        done = min((progress - self.hold) / (1.0 - self.hold), 1.0)
        return 1.0 - done * (1.0 - self.floor)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # kept in the parameter groups, so a resumed run (optimizer state restored from the
        # checkpoint, its rates already decayed) still decays from the first start's rates
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        factor = self.factor(run_progress(trainer))
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor
        pl_module.log("train/lr_factor", factor, on_step=True, on_epoch=False)
