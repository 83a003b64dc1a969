"""One LightningModule for every audio2mouth variant (adversarial TCN, TCN, LSTM, Bi-LSTM).

All variants share the reconstruction loss, the validation/test code and the
metrics, so the comparison is fair. With a discriminator the module switches to
manual optimization (a discriminator step, then a generator step); without one
Lightning's automatic optimization runs the plain reconstruction objective.

The networks work on normalized features and normalized targets (per-speaker
statistics from the train block); metrics are computed on de-normalized
coefficients at the video frame rate (see ``audio2mouth.metrics``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from audio2mouth.components.discriminator import GANLoss
from audio2mouth.components.ensemble import Ensemble, members_of
from audio2mouth.lip_space import lip_space_map
from audio2mouth.metrics import all_metrics, shape_metrics
from audio2mouth.silence import toward_rest
from audio2mouth.speaker import SpeakerData
from audio2mouth.timing import steps_to_frames


def masked_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str
) -> torch.Tensor:
    """Mean L1 or MSE over valid steps; pred/target (B, T, k), mask (B, T) bool."""
    per = F.l1_loss(pred, target, reduction="none") if kind == "l1" else (pred - target) ** 2
    weight = mask.unsqueeze(-1).to(per.dtype)
    return (per * weight).sum() / (weight.sum() * per.shape[-1]).clamp_min(1.0)


class Audio2MouthModule(pl.LightningModule):
    """Generator ``net`` (B, T, d) -> (B, T, k); optional ``discriminator`` for the GAN variant."""

    def __init__(
        self,
        net: Callable[..., nn.Module],
        optimizer: Callable[..., torch.optim.Optimizer],
        n_features: int,
        n_coeffs: int,
        n_visemes: int = 0,
        discriminator: Callable[..., nn.Module] | None = None,
        d_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        recon_loss: str = "l1",
        adv_weight: float = 0.01,
        gan_mode: str = "lsgan",
        grad_clip: float = 1.0,
        input_noise: float = 0.0,
        name: str = "model",
        ensemble: int = 1,
        lip_loss: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "discriminator", "d_optimizer"])
        # ensemble > 1: that many generators trained side by side, their mean is the prediction
        self.net = Ensemble.build(net, int(ensemble), in_features=n_features, out_features=n_coeffs)
        self.disc = (
            discriminator(in_features=n_features, n_coeffs=n_coeffs) if discriminator else None
        )
        self.gan_loss = GANLoss(gan_mode) if discriminator else None
        self.opt_factory, self.d_opt_factory = optimizer, d_optimizer
        self.automatic_optimization = self.disc is None
        self.speaker: SpeakerData | None = None
        self.lip_map: torch.Tensor | None = None  # (k, 2L), set with the speaker when lip_loss > 0
        self.last_eval: dict[str, dict[str, np.ndarray]] = {}

    def attach_speaker(self, speaker: SpeakerData) -> None:
        """Give the module the PCA and target statistics it needs for metrics (and the lip loss)."""
        self.speaker = speaker
        if self.hparams.lip_loss:
            self.lip_map = torch.from_numpy(lip_space_map(speaker))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Normalized features (B, T, d) -> normalized coefficients (B, T, k)."""
        return self.net(features)

    def configure_optimizers(self):
        opt_g = self.opt_factory(params=self.net.parameters())
        if self.disc is None:
            return opt_g
        return [opt_g, self.d_opt_factory(params=self.disc.parameters())]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.automatic_optimization:  # manual (GAN) mode clips in training_step
            self._clip_members()

    def _clip_members(self) -> None:
        """Clip each member's gradient norm on its own, as if it were trained alone."""
        for member in members_of(self.net):
            nn.utils.clip_grad_norm_(member.parameters(), self.hparams.grad_clip)

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian noise on normalized acoustic features (48 s overfit fast); the viseme block stays clean."""
        if not self.hparams.input_noise:
            return x
        noise = self.hparams.input_noise * torch.randn_like(x)
        if self.hparams.n_visemes:  # the one-hot viseme block (last channels)
            noise[..., -self.hparams.n_visemes :] = 0
        return x + noise

    def _reconstruction(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The coefficient loss, plus ``lip_loss`` x L1 on the centred lip points (see audio2mouth.lip_space)."""
        loss = masked_loss(pred, target, mask, self.hparams.recon_loss)
        if not self.hparams.lip_loss:
            return loss
        if self.lip_map is None:
            raise RuntimeError("attach_speaker() must be called before training with lip_loss")
        lip_map = self.lip_map.to(pred)
        return loss + self.hparams.lip_loss * masked_loss(pred @ lip_map, target @ lip_map, mask, "l1")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int):
        x, y, mask = batch["features"], batch["targets"], batch["mask"]
        # Every member sees its own noise draw. The loss is the sum of the members' own losses, so each
        # member gets exactly the gradient it would get trained alone, and none shares a gradient.
        inputs = [self._noisy(x) for _ in members_of(self.net)]
        fakes = [member(xi) for member, xi in zip(members_of(self.net), inputs, strict=True)]
        losses_rec = torch.stack([self._reconstruction(f, y, mask) for f in fakes])
        if self.disc is None:
            self.log("train/loss", losses_rec.mean(), prog_bar=True)
            return losses_rec.sum()
        opt_g, opt_d = self.optimizers()
        # discriminator step: real pairs -> real, generated pairs (detached) -> fake
        loss_d = 0.0
        for xi, fake in zip(inputs, fakes, strict=True):
            loss_d = loss_d + 0.5 * (self.gan_loss(self.disc(xi, y), True, mask)
                                     + self.gan_loss(self.disc(xi, fake.detach()), False, mask))
        loss_d = loss_d / len(fakes)
        opt_d.zero_grad()  # clear stale discriminator gradients
        self.manual_backward(loss_d)  # gradients of D's loss
        opt_d.step()  # update D only
        # generator step: reconstruct the targets and fool the (just updated) discriminator
        losses_adv = torch.stack([self.gan_loss(self.disc(xi, f), True, mask)
                                  for xi, f in zip(inputs, fakes, strict=True)])
        loss_g = (losses_rec + self.hparams.adv_weight * losses_adv).sum()
        opt_g.zero_grad()  # drop gradients G got from nothing else
        self.manual_backward(loss_g)  # gradients of G's loss (D's grads are zeroed next step)
        self._clip_members()  # keep G stable
        opt_g.step()  # update G only
        self.log_dict(
            {"train/loss": losses_rec.mean(), "train/loss_adv": losses_adv.mean(), "train/loss_d": loss_d},
            prog_bar=True,
        )

    def _evaluate(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        if self.speaker is None:
            raise RuntimeError("attach_speaker() must be called before validation/testing")
        sp = self.speaker
        pred_norm = self(batch["features"])[0].float().cpu().numpy()  # (T', k) at the feature rate
        pred_steps = sp.outputs_to_coeffs(pred_norm)
        frame_times = batch["frame_times"][0].cpu().numpy()
        pred = steps_to_frames(pred_steps, batch["step_times"][0].cpu().numpy(), frame_times)
        true = batch["coeffs"][0].cpu().numpy()
        valid = batch["valid"][0].cpu().numpy().astype(bool)
        pose = batch["pose_offsets"][0].cpu().numpy() if "pose_offsets" in batch else None
        metrics = all_metrics(
            pred, true, valid, sp.pca, sp.lower_face_indices, batch["transforms"][0].cpu().numpy(), pose,
            train_mean=sp.target_norm.mean,
        )
        self.log_dict({f"{stage}/{k}": v for k, v in metrics.items()}, batch_size=1)
        self.last_eval[stage] = {
            "frame_times": frame_times,
            "pred": pred,
            "true": true,
            "valid": valid,
            **({"pose_offsets": pose} if pose is not None else {}),
        }

    def fit_output_gain(self, stage: str = "val", mode: str = "sqrt_r") -> np.ndarray:
        """Per-coefficient output gain fitted on the last ``stage`` evaluation (made with gain 1).

        ``shrink``: the least-squares gain r * std_true / std_pred, clipped to [0, 1]. It minimizes
        MSE, but with a held-out r of ~0.6 it scales the motion down to 0.6 of the truth's: the
        mouth mumbles. ``sqrt_r`` (default): std_true / std_pred * sqrt(max(r, 0)), clipped to
        [0, 2]: a coefficient the audio predicts well moves as much as the truth (r = 1 gives the
        true std), one it cannot predict shrinks to the train mean (r = 0 gives 0). For r = 0.6
        it costs 0.67 of the mean predictor's MSE against 0.64 for ``shrink``, and keeps 0.77 of
        the motion instead of 0.6. Returns (k,) float32.
        """
        ev, norm = self.last_eval[stage], self.speaker.target_norm
        pred = (ev["pred"][ev["valid"]] - norm.mean) / norm.std
        true = (ev["true"][ev["valid"]] - norm.mean) / norm.std
        pred_c, true_c = pred - pred.mean(0), true - true.mean(0)
        if mode == "shrink":
            gain = (pred * true).sum(0) / np.maximum((pred**2).sum(0), 1e-8)
            return np.clip(gain, 0.0, 1.0).astype(np.float32)
        if mode != "sqrt_r":
            raise ValueError(f"unknown per-coefficient calibration {mode!r} (shrink or sqrt_r)")
        std_p, std_t = pred_c.std(0), true_c.std(0)
        r = (pred_c * true_c).mean(0) / np.maximum(std_p * std_t, 1e-8)
        gain = std_t / np.maximum(std_p, 1e-8) * np.sqrt(np.clip(r, 0.0, None))
        return np.clip(gain, 0.0, 2.0).astype(np.float32)

    def fit_opening_gain(self, stage: str = "val", max_gain: float = 2.0, rest_weight: np.ndarray | None = None
                         ) -> float:
        """Gain on the opening direction (``SpeakerData.opening_direction``) that gives the predicted
        inner-lip gap the truth's standard deviation on the last ``stage`` evaluation (made with
        opening gain 1), clipped to [1, ``max_gain``].

        A regression to the mean moves the mouth about r times as much as the truth (r ~ 0.6 on
        held-out blocks, less for an ensemble's mean): it mumbles. One scalar on one direction is
        what the short val block can estimate, and its MSE cost is small because only the
        best-predicted shape direction is scaled: on the held-out blocks of the real clips, a gain
        of 1.4 moved the MSE ratio by 0.001-0.02 (docs/audio2mouth.md). Never below 1: the gain
        exists to undo shrinkage, not to add it.

        ``rest_weight`` (T,) in [0, 1] per evaluated frame: where speak's silence gate
        (audio2mouth/silence.py) will hold the rest shape. The gain is then the one that gives the
        gated output the truth's opening std (searched in steps of 0.01): closing the mouth in pauses
        already adds motion, and a gain fitted without them would amplify the speech shapes more.
        """
        ev, sp = self.last_eval[stage], self.speaker
        if rest_weight is not None and np.any(rest_weight > 0):
            w = np.asarray(rest_weight, np.float32)
            gains = np.round(np.arange(1.0, max_gain + 1e-9, 0.01), 2)
            ratios = np.array([
                shape_metrics(toward_rest(sp.with_opening_gain(ev["pred"], g), w, sp.rest_coeffs), ev["true"],
                              ev["valid"], sp.pca, sp.lower_face_indices,
                              pose_offsets=ev.get("pose_offsets"))["mouth_std_ratio"] for g in gains])
            if not np.isfinite(ratios).any():
                return 1.0
            return float(gains[np.nanargmin(np.abs(ratios - 1.0))])
        # the std ratio the evaluation reports (the rest-shape clamp of outputs_to_coeffs rarely acts)
        ratio = shape_metrics(ev["pred"], ev["true"], ev["valid"], sp.pca, sp.lower_face_indices,
                              pose_offsets=ev.get("pose_offsets"))["mouth_std_ratio"]
        if not np.isfinite(ratio) or ratio < 1e-9:  # no frames, or a still mouth: nothing to scale
            return 1.0
        return float(np.clip(1.0 / ratio, 1.0, max_gain))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")
