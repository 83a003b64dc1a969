"""Fold eval-mode batch norms into the convolutions before them, for inference.

In eval mode a BatchNorm2d is a fixed per-channel affine map, y = s * x + t with
s = gamma / sqrt(running_var + eps) and t = beta - running_mean * s. When it
directly follows a Conv2d or ConvTranspose2d, scaling that convolution's output
channels by s and adding t to its bias computes the same function without the
extra pass over the activations (2 % of the U-Net's CPU time at 128 px). The
result matches the unfolded network to float rounding (~1e-6).
"""

from __future__ import annotations

import torch
from torch import nn

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


@torch.no_grad()
def fold_into(conv: nn.Conv2d | nn.ConvTranspose2d, norm: nn.BatchNorm2d) -> None:
    """Give ``conv`` the affine map of ``norm`` (its running statistics), in place."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    # Output channels are the weight's first axis for Conv2d, its second for ConvTranspose2d.
    axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    conv.weight.mul_(scale.view(shape))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    conv.bias = nn.Parameter(bias.clone(), requires_grad=False)


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a convolution inside an ``nn.Sequential``.

    The model must be in eval mode (training-mode batch norms use batch statistics,
    which cannot be folded). Each folded norm is replaced by ``nn.Identity``; the
    model is changed in place. Returns how many were folded.
    """
    if model.training:
        raise ValueError("fold batch norms of an eval-mode model only: call .eval() first")
    folded = 0
    for sequence in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(1, len(sequence)):
            norm, conv = sequence[i], sequence[i - 1]
            if isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats and isinstance(conv, _CONVS):
                if not norm.affine:
                    raise ValueError("fold_batch_norms expects affine batch norms")
                fold_into(conv, norm)
                sequence[i] = nn.Identity()
                folded += 1
    return folded
