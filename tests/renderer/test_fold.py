"""Batch norms folded into convolutions compute the same function, faster."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from renderer.components import UNetGenerator, fold_batch_norms


def trained_looking(generator: UNetGenerator) -> UNetGenerator:
    """Give every batch norm statistics and affine parameters far from the identity."""
    gen = torch.Generator().manual_seed(1)
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.2)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return generator.eval()


def test_folded_generator_matches_the_original():
    torch.manual_seed(0)
    original = trained_looking(UNetGenerator(in_channels=10, crop_size=64, ngf=8, max_channels=32))
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in original.modules())
    folded = copy.deepcopy(original)
    assert fold_batch_norms(folded) == norms  # every norm of the U-Net follows a convolution
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(3, 10, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected, got = original(x), folded(x)
        got_nhwc = folded.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert (expected - got).abs().max().item() < 1e-5
    assert (expected - got_nhwc).abs().max().item() < 1e-5
    assert (expected - original(torch.zeros_like(x))).abs().max().item() > 1e-2  # the input matters


def test_fold_refuses_a_training_model():
    with pytest.raises(ValueError, match="eval"):
        fold_batch_norms(UNetGenerator(in_channels=10, crop_size=64, ngf=8).train())
