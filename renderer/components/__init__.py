"""Pure torch building blocks of the renderer (no Lightning, no Hydra)."""

from renderer.components.conditioning import input_channels, make_input, to_signed, to_uint8
from renderer.components.ema import WeightAverage
from renderer.components.fold import fold_batch_norms
from renderer.components.losses import (
    GANLoss,
    feature_matching_loss,
    weighted_gradient_loss,
    weighted_l1,
    weighted_ssim_loss,
)
from renderer.components.metrics import psnr, ssim
from renderer.components.mouth_window import cut_windows, lip_centres
from renderer.components.patchgan import MultiScaleDiscriminator, PatchDiscriminator
from renderer.components.temporal import frame_pair, previous_batch
from renderer.components.unet import UNetGenerator, odd_part, unet_depth

__all__ = [
    "GANLoss",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "UNetGenerator",
    "WeightAverage",
    "cut_windows",
    "feature_matching_loss",
    "fold_batch_norms",
    "frame_pair",
    "input_channels",
    "lip_centres",
    "make_input",
    "odd_part",
    "previous_batch",
    "psnr",
    "ssim",
    "to_signed",
    "to_uint8",
    "unet_depth",
    "weighted_l1",
    "weighted_gradient_loss",
    "weighted_ssim_loss",
]
