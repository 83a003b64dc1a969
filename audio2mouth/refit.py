"""Refit: train the networks again on the train and val blocks, for the epochs the first pass chose.

A minute of footage is split train 70 % | val 10 % | test 20 %. The val block
picks the epoch (early stopping, the best weights) and fits the output gain,
and then it is wasted: the shipped networks never learned from it, although it
is the speech nearest the test block in time. ``refit=true`` keeps what the
first pass decided (how many epochs, which gain) and trains fresh networks,
same seed, on train + val for that many epochs, weights of the last epoch (or
the average, with ``weights=average``). The test block stays held out, so the
refit's test figures are as honest as the first pass's, and results.json keeps
both side by side.
"""

from __future__ import annotations

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback, Timer
from pytorch_lightning.trainer.states import RunningStage

from audio2mouth.weights import BestWeights, kept_state, make_weight_keeper


def refit_epochs(keeper: Callback, trainer: pl.Trainer) -> int:
    """Epochs the refit trains: up to the kept best epoch, else as many as the first pass ran."""
    if isinstance(keeper, BestWeights) and keeper.epoch is not None:
        return keeper.epoch + 1
    return max(int(trainer.current_epoch), 1)


def time_left_s(trainer: pl.Trainer) -> float | None:
    """Seconds of ``trainer.max_time`` the first pass left (None: no time limit)."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is None or timer._duration is None:
        return None
    return float(timer.time_remaining(RunningStage.TRAINING) or 0.0)


def refit(cfg: DictConfig, first_data, first_trainer: pl.Trainer, keeper: Callback, train_s: float) -> tuple | str:
    """Fresh networks trained on train + val; returns (module, datamodule, trainer, epochs), or the
    reason the refit was skipped (a one-line string) when the time limit cannot hold it.

    The first pass's output gains move over unchanged: the refit has no held-out block to fit them
    on.
    """
    epochs = refit_epochs(keeper, first_trainer)
    epoch_s = train_s / max(int(first_trainer.current_epoch), 1)
    # the refit's epochs hold (train + val) / train as many windows as the first pass's
    grow = (1 - float(cfg.data.test_frac)) / (1 - float(cfg.data.val_frac) - float(cfg.data.test_frac))
    needed_s, left_s = epochs * epoch_s * grow, time_left_s(first_trainer)
    if left_s is not None and needed_s > left_s:
        return (f"refit skipped: {epochs} epochs on train + val need about {needed_s:.0f} s, "
                f"the time limit leaves {left_s:.0f} s")
    pl.seed_everything(int(cfg.seed), workers=True)
    datamodule = instantiate(cfg.data, train_through_val=True)
    datamodule.setup("fit")
    datamodule.speaker.opening_gain = first_data.speaker.opening_gain
    datamodule.speaker.output_gain = first_data.speaker.output_gain
    module = instantiate(cfg.model, n_features=datamodule.n_features, n_coeffs=datamodule.n_coeffs,
                         n_visemes=datamodule.features.n_visemes, ensemble=int(cfg.get("ensemble", 1)))
    module.attach_speaker(datamodule.speaker)
    weights = str(cfg.get("weights", "best"))
    # no val block is left to pick a best epoch: the last one (the first pass's best) is kept
    keeper = make_weight_keeper("last" if weights == "best" else weights, float(cfg.get("average_from", 0.5)))
    trainer = instantiate(cfg.trainer, callbacks=[keeper], logger=False, max_epochs=epochs,
                          max_time=None, limit_val_batches=0, enable_checkpointing=False)
    trainer.fit(module, datamodule=datamodule)
    if kept_state(keeper) is not None:
        module.net.load_state_dict(kept_state(keeper))
    return module, datamodule, trainer, epochs
