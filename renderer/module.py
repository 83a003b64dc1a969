"""The renderer's LightningModule: conditional GAN (pix2pix) with manual optimization.

Batches are dicts of uint8 tensors from :mod:`renderer.datamodule`: ``face_map``
and ``crop`` (B, 3, S, S), ``lower_mask`` and ``mouth_mask`` (B, 1, S, S).
Validation reports PSNR (dB) and SSIM of the rendered face crop against the
ground-truth crop of held-out frames (self reconstruction: each frame is drawn
from its own landmarks), and saves image grids as PNG files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from renderer.components import (
    GANLoss,
    WeightAverage,
    cut_windows,
    feature_matching_loss,
    frame_pair,
    lip_centres,
    make_input,
    previous_batch,
    psnr,
    ssim,
    to_signed,
    to_uint8,
    weighted_gradient_loss,
    weighted_l1,
    weighted_ssim_loss,
)


class RendererModule(pl.LightningModule):
    """U-Net generator + PatchGAN discriminator.

    Generator loss = ``lambda_gan`` x GAN + ``lambda_fm`` x feature matching +
    ``lambda_l1`` x L1 whose weight is 1 + ``mouth_weight`` on the lips, + ``lambda_ssim`` x
    (1 - SSIM) with the same weight, + ``lambda_grad`` x the gradient difference loss (edge
    magnitudes, same weight), plus with a
    ``local_discriminator`` ``lambda_local`` x its GAN loss on a window of
    ``local_window`` x S px centred on the lips (both discriminators step together), and
    with a ``temporal_discriminator`` ``lambda_temporal`` x its GAN loss on (previous frame,
    frame) stacks with both face maps (:mod:`renderer.components.temporal`); the previous frame
    is rendered without gradient, so the generator learns to agree with its last output.
    ``grid_dir``: where validation grids go (none saved when null).
    ``channels_last``: NHWC memory format for both networks and their inputs.
    ``weight_average``: when > 0, the decay of an exponential moving average of the generator's
    weights (:class:`~renderer.components.WeightAverage`) that validation, the exported
    ``renderer.pt`` and speak render with; 0 renders with the trained weights themselves.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: Callable[..., torch.optim.Optimizer],
        optimizer_d: Callable[..., torch.optim.Optimizer],
        use_reference: bool = False,
        gan_mode: str = "lsgan",
        lambda_gan: float = 1.0,
        lambda_l1: float = 100.0,
        mouth_weight: float = 10.0,
        lambda_fm: float = 10.0,
        lambda_ssim: float = 0.0,
        lambda_grad: float = 0.0,
        grid_dir: str | None = None,
        n_grid: int = 8,
        channels_last: bool = True,
        local_discriminator: nn.Module | None = None,
        lambda_local: float = 1.0,
        local_window: float = 0.5,
        temporal_discriminator: nn.Module | None = None,
        lambda_temporal: float = 1.0,
        weight_average: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters(
            logger=False, ignore=["generator", "discriminator", "local_discriminator", "temporal_discriminator"]
        )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.gan_loss = GANLoss(gan_mode)
        # oneDNN's channels-last kernels train this U-Net 2-6x faster on CPU than NCHW.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator.to(memory_format=self.memory_format)
        self.discriminator.to(memory_format=self.memory_format)
        self.local_discriminator = local_discriminator
        self.temporal_discriminator = temporal_discriminator
        for extra in (local_discriminator, temporal_discriminator):
            if extra is not None:
                extra.to(memory_format=self.memory_format)
        self.generator_average = WeightAverage(generator, weight_average) if weight_average > 0 else None

    @property
    def rendering_generator(self) -> nn.Module:
        """The generator that validates, is exported and renders: the weight average when there is one."""
        return self.generator if self.generator_average is None else self.generator_average.module

    def inputs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Generator input (B, 3, 6 or 9, S, S) of a batch."""
        x = make_input(
            batch["face_map"], batch["crop"], batch["lower_mask"], self.hparams.use_reference,
            batch.get("mouth_ref"),
        )
        return x.contiguous(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        hp = self.hparams
        opt_g, opt_d = self.optimizers()
        x = self.inputs(batch)
        real = to_signed(batch["crop"]).contiguous(memory_format=self.memory_format)
        weight = 1.0 + hp.mouth_weight * batch["mouth_mask"].float()
        fake = self.generator(x)  # render the face from its map

        local = self._local_pairs(batch["mouth_mask"]) if self.local_discriminator is not None else None
        temporal = self._temporal_pairs(batch) if self.temporal_discriminator is not None else None

        # Discriminator step: real pairs -> real, rendered pairs (detached) -> fake.
        self.toggle_optimizer(opt_d)
        pred_real = self.discriminator(torch.cat([x, real], 1))
        pred_fake = self.discriminator(torch.cat([x, fake.detach()], 1))
        loss_d = 0.5 * (self.gan_loss(pred_real, True) + self.gan_loss(pred_fake, False))
        if local is not None:
            loss_d = loss_d + 0.5 * (self.gan_loss(self.local_discriminator(local(x, real)), True)
                                     + self.gan_loss(self.local_discriminator(local(x, fake.detach())), False))
        if temporal is not None:
            loss_d = loss_d + 0.5 * (self.gan_loss(self.temporal_discriminator(temporal(real, real=True)), True)
                                     + self.gan_loss(self.temporal_discriminator(temporal(fake.detach())), False))
        opt_d.zero_grad(set_to_none=True)  # clear last step's gradients
        self.manual_backward(loss_d)  # gradients of D only (G's output was detached)
        opt_d.step()  # update D
        self.untoggle_optimizer(opt_d)

        # Generator step: fool D, match D's features of real pairs, reconstruct the crop.
        self.toggle_optimizer(opt_g)  # freezes D's parameters for this step
        pred_fake = self.discriminator(torch.cat([x, fake], 1))
        loss_gan = self.gan_loss(pred_fake, True, for_discriminator=False)
        loss_fm = (
            feature_matching_loss(pred_fake, pred_real) if hp.lambda_fm > 0 else x.new_zeros(())
        )
        loss_l1 = weighted_l1(fake, real, weight)  # lips weighted up
        loss_g = hp.lambda_gan * loss_gan + hp.lambda_fm * loss_fm + hp.lambda_l1 * loss_l1
        loss_ssim = weighted_ssim_loss(fake, real, weight) if hp.lambda_ssim > 0 else x.new_zeros(())
        loss_g = loss_g + hp.lambda_ssim * loss_ssim
        loss_grad = weighted_gradient_loss(fake, real, weight) if hp.lambda_grad > 0 else x.new_zeros(())
        loss_g = loss_g + hp.lambda_grad * loss_grad
        if local is not None:
            loss_local = self.gan_loss(self.local_discriminator(local(x, fake)), True, for_discriminator=False)
            loss_g = loss_g + hp.lambda_local * loss_local
        if temporal is not None:
            loss_temporal = self.gan_loss(self.temporal_discriminator(temporal(fake)), True, for_discriminator=False)
            loss_g = loss_g + hp.lambda_temporal * loss_temporal
        opt_g.zero_grad(set_to_none=True)  # clear last step's gradients
        self.manual_backward(loss_g)  # gradients of G through the frozen D
        opt_g.step()  # update G
        self.untoggle_optimizer(opt_g)
        if self.generator_average is not None:
            self.generator_average.update(self.generator)

        self.log_dict(
            {
                "train/loss_d": loss_d,
                "train/loss_g": loss_g,
                "train/gan": loss_gan,
                "train/fm": loss_fm,
                "train/l1": loss_l1,
                "train/ssim_loss": loss_ssim,
                "train/grad_loss": loss_grad,
            },
            prog_bar=False,
            on_step=True,
            on_epoch=True,
            batch_size=len(x),
        )
        self.log("train/l1_step", loss_l1, prog_bar=True, on_step=True, on_epoch=False)

    def _local_pairs(self, mouth_mask: torch.Tensor):
        """A function (condition, image) -> their lip windows, concatenated, for the local D."""
        size = int(round(self.hparams.local_window * mouth_mask.shape[-1]))
        centres = lip_centres(mouth_mask)

        def pairs(x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
            window = cut_windows(torch.cat([x, image], 1), centres, size)
            return window.contiguous(memory_format=self.memory_format)

        return pairs

    def _temporal_pairs(self, batch: dict[str, torch.Tensor]):
        """A function (current image, real=False) -> (previous, current, both maps) stacks for the temporal D.

        The previous real frame goes with a real current frame; the previous *rendered* frame
        (no gradient: the generator is only asked to agree with it) goes with a rendered one.
        """
        prev = previous_batch(batch)
        real_prev = to_signed(prev["crop"])
        with torch.no_grad():
            fake_prev = self.generator(self.inputs(prev))

        def pairs(image: torch.Tensor, real: bool = False) -> torch.Tensor:
            stack = frame_pair(real_prev if real else fake_prev, image, prev["face_map"], batch["face_map"])
            return stack.contiguous(memory_format=self.memory_format)

        return pairs

    @torch.no_grad()
    def render_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rendered crops (B, 3, S, S) uint8 of a batch."""
        return to_uint8(self.rendering_generator(self.inputs(batch)))

    def _evaluate(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        rendered = self.render_batch(batch)
        pred, target = rendered.float() / 255, batch["crop"].float() / 255
        mouth = batch["mouth_mask"].float()
        # PSNR inside the lips only: the part the face map must explain.
        mse_mouth = (((pred - target) ** 2) * mouth).flatten(1).sum(1) / (
            mouth.flatten(1).sum(1) * pred.shape[1]
        ).clamp_min(1)
        n = len(pred)
        self.log(f"{stage}/psnr", psnr(pred, target).mean(), prog_bar=True, batch_size=n)
        self.log(f"{stage}/ssim", ssim(pred, target).mean(), prog_bar=True, batch_size=n)
        self.log(
            f"{stage}/psnr_mouth", (10 * torch.log10(1 / (mse_mouth + 1e-10))).mean(), batch_size=n
        )
        self.log(f"{stage}/l1", (pred - target).abs().mean(), batch_size=n)
        return rendered

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        rendered = self._evaluate(batch, "val")
        if batch_idx == 0 and not self.trainer.sanity_checking and self.trainer.is_global_zero:
            self.save_grid(
                batch, rendered, f"epoch{self.current_epoch:03d}_step{self.global_step:06d}"
            )

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def save_grid(
        self, batch: dict[str, torch.Tensor], rendered: torch.Tensor, name: str
    ) -> Path | None:
        """Write a PNG with one row per sample: face map | rendered | ground truth."""
        if not self.hparams.grid_dir:
            return None
        n = min(self.hparams.n_grid, len(rendered))
        cols = [batch["face_map"][:n], rendered[:n], batch["crop"][:n]]
        rows = [torch.cat([c[i] for c in cols], dim=2) for i in range(n)]  # (3, S, 3S) each
        grid = torch.cat(rows, dim=1).permute(1, 2, 0).cpu().numpy().astype(np.uint8)
        out = Path(self.hparams.grid_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        return path

    def configure_optimizers(self):
        opt_g = self.hparams.optimizer_g(params=self.generator.parameters())
        d_params = list(self.discriminator.parameters())
        for extra in (self.local_discriminator, self.temporal_discriminator):
            if extra is not None:
                d_params += list(extra.parameters())
        opt_d = self.hparams.optimizer_d(params=d_params)
        return [opt_g, opt_d]
