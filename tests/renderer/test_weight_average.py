"""WeightAverage: an exponential moving average of the generator's weights and BatchNorm statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from renderer.components import WeightAverage


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())


def test_average_follows_the_weights_with_the_warmed_up_decay():
    net = small_net()
    average = WeightAverage(net, decay=0.9)
    start = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert average.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0): mostly the live weights
    average.update(net)
    assert torch.allclose(average.module[0].weight, start + 0.9)
    for _ in range(200):
        average.update(net)
    assert average.current_decay() == pytest.approx(0.9)
    assert torch.allclose(average.module[0].weight, start + 1.0, atol=1e-6)
    assert not any(p.requires_grad for p in average.module.parameters())


def test_batchnorm_statistics_are_averaged_and_counters_copied():
    net = small_net()
    average = WeightAverage(net, decay=0.5)
    net.train()
    net(torch.randn(8, 3, 6, 6) * 3 + 2)  # moves the live running mean and variance
    average.update(net)
    live, avg = net[1], average.module[1]
    assert torch.allclose(avg.running_mean, 0.9 * live.running_mean)  # first update: decay 0.1 toward the live one
    assert int(avg.num_batches_tracked) == int(live.num_batches_tracked) == 1


def test_the_average_always_renders_in_eval_mode():
    average = WeightAverage(small_net(), decay=0.99)
    average.train()
    assert not average.module.training
    before = average.module[1].running_mean.clone()
    average(torch.randn(2, 3, 6, 6))
    assert torch.equal(average.module[1].running_mean, before)  # rendering never updates statistics


def test_decay_must_be_a_fraction():
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(small_net(), decay=1.0)
