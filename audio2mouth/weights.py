"""Which generator weights a run keeps: the best validation epoch, the last, or an average.

On a minute of footage the validation block is 3-5 s of speech, so its minimum
is noisy: measured on macron (5 seeds each of adv_tcn and tcn), every run that
early stopping ended before epoch 20 had kept an early "best" epoch and scored
the lowest test mouth-opening r of its model. Averaging the weights of the
later epochs (stochastic weight averaging, Izmailov et al. 2018) needs no
validation block at all and gives, like an ensemble, a flatter and less
seed-dependent solution. The TCNs have no batch norm, so averaged weights need
no statistics pass.
"""

from __future__ import annotations

import torch
from pytorch_lightning.callbacks import Callback

from landmarks.errors import LipsyncError


class BestWeights(Callback):
    """Keeps the generator weights of the lowest ``monitor`` (default ``val/mse``) in memory (no checkpoint
    pickles)."""

    def __init__(self, monitor: str = "val/mse"):
        self.monitor, self.best, self.state = monitor, float("inf"), None
        self.epoch: int | None = None  # the epoch (0-based) whose weights are kept

    def on_validation_end(self, trainer, pl_module) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None or not float(value) < self.best:
            return
        self.best, self.epoch = float(value), int(trainer.current_epoch)
        self.state = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}

    # Kept in Lightning's checkpoint (plain tensors), so a resumed run still ends with the best weights.
    def state_dict(self) -> dict:
        return {"best": self.best, "epoch": self.epoch, "state": self.state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.state = float(state_dict.get("best", self.best)), state_dict.get("state")
        self.epoch = state_dict.get("epoch", self.epoch)


class AveragedWeights(Callback):
    """Running mean of the generator weights at the end of every epoch from ``start_frac`` of max_epochs on.

    ``state`` stays None until the first averaged epoch, so a run stopped earlier
    (by the time budget) falls back to whatever the caller chooses.
    """

    def __init__(self, start_frac: float = 0.5):
        if not 0.0 <= start_frac < 1.0:
            raise LipsyncError(f"average_from must be in [0, 1), got {start_frac}")
        self.start_frac, self.count, self.state = start_frac, 0, None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        start = int(self.start_frac * (trainer.max_epochs or 0))
        if trainer.current_epoch < start:
            return
        weights = pl_module.net.state_dict()
        self.count += 1
        if self.state is None:
            self.state = {k: v.detach().clone().float() for k, v in weights.items()}
            return
        with torch.no_grad():
            for key, value in weights.items():
                self.state[key] += (value.detach().float() - self.state[key]) / self.count

    def state_dict(self) -> dict:
        return {"count": self.count, "state": self.state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.count, self.state = int(state_dict.get("count", 0)), state_dict.get("state")


def make_weight_keeper(kind: str, average_from: float = 0.5, monitor: str = "val/mse") -> Callback:
    """The callback behind ``weights=best|last|average``; ``last`` keeps nothing (the final weights stay).
    ``monitor``: the validation metric (lower is better) whose best epoch ``best`` keeps."""
    if kind == "best":
        return BestWeights(monitor)
    if kind == "average":
        return AveragedWeights(average_from)
    if kind == "last":
        return Callback()
    raise LipsyncError(f"weights must be best, last or average, got {kind!r}")


def kept_state(keeper: Callback) -> dict | None:
    """The state dict a run ends with (None: keep the net as it is)."""
    return getattr(keeper, "state", None)
