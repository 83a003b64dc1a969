"""Which weights a run keeps: the running average over the later epochs, and the choice by name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from audio2mouth.weights import AveragedWeights, BestWeights, kept_state, make_weight_keeper
from landmarks.errors import LipsyncError


def module_with_weight(value: float) -> SimpleNamespace:
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(value)
        net.bias.fill_(-value)
    return SimpleNamespace(net=net)


def test_average_covers_exactly_the_epochs_from_start_frac_on():
    keeper = AveragedWeights(start_frac=0.5)
    for epoch in range(6):  # max_epochs 6: epochs 3, 4, 5 are averaged, with weights 3, 4, 5
        keeper.on_train_epoch_end(SimpleNamespace(current_epoch=epoch, max_epochs=6), module_with_weight(epoch))
    state = kept_state(keeper)
    assert keeper.count == 3
    assert torch.allclose(state["weight"], torch.full((1, 2), 4.0))
    assert torch.allclose(state["bias"], torch.full((1,), -4.0))


def test_average_survives_a_checkpoint_round_trip():
    keeper = AveragedWeights(start_frac=0.0)
    keeper.on_train_epoch_end(SimpleNamespace(current_epoch=0, max_epochs=4), module_with_weight(1.0))
    resumed = AveragedWeights(start_frac=0.0)
    resumed.load_state_dict(keeper.state_dict())
    resumed.on_train_epoch_end(SimpleNamespace(current_epoch=1, max_epochs=4), module_with_weight(3.0))
    assert torch.allclose(kept_state(resumed)["weight"], torch.full((1, 2), 2.0))


def test_a_run_stopped_before_averaging_keeps_its_own_weights():
    keeper = AveragedWeights(start_frac=0.5)
    keeper.on_train_epoch_end(SimpleNamespace(current_epoch=1, max_epochs=30), module_with_weight(1.0))
    assert kept_state(keeper) is None


def test_weights_are_chosen_by_name():
    assert isinstance(make_weight_keeper("best"), BestWeights)
    assert isinstance(make_weight_keeper("average", 0.25), AveragedWeights)
    assert kept_state(make_weight_keeper("last")) is None
    with pytest.raises(LipsyncError, match="best, last or average"):
        make_weight_keeper("median")
    with pytest.raises(LipsyncError, match="average_from"):
        AveragedWeights(1.0)


def test_best_keeps_the_epoch_lowest_in_its_monitor():
    """weights_monitor=val/lip_lmd_over_still: the epoch with the best lip figure, not the best MSE."""
    keeper = make_weight_keeper("best", monitor="val/lip_lmd_over_still")
    history = [(0.010, 0.80), (0.008, 0.78), (0.009, 0.74), (0.007, 0.77)]  # (val/mse, val lip LMD) per epoch
    for epoch, (mse, lips) in enumerate(history):
        trainer = SimpleNamespace(sanity_checking=False, current_epoch=epoch,
                                  callback_metrics={"val/mse": torch.tensor(mse),
                                                    "val/lip_lmd_over_still": torch.tensor(lips)})
        keeper.on_validation_end(trainer, module_with_weight(float(epoch)))
    assert keeper.epoch == 2 and torch.allclose(kept_state(keeper)["weight"], torch.full((1, 2), 2.0))
