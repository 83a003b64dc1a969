"""``renderer-train``: fit the pix2pix renderer of one speaker (a Hydra app).

    renderer-train speaker=lieu trainer.max_time=00:00:15:00
    renderer-train speaker=lieu use_reference=false
    renderer-train speaker=lieu render_setup=gpu_256 [trainer=ddp]

Writes into Hydra's run directory: ``renderer.pt`` + ``renderer.yaml`` (the
generator with the best held-out PSNR so far, rewritten whenever it improves,
so an interrupted run still leaves a usable model), Lightning checkpoints,
``val_grids/*.png`` (face map | rendered | ground truth) and CSV metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.training import MeanOverRanks, same_layers, stop_record
from renderer.bundle import load_generator, save_renderer
from renderer.components import input_channels, odd_part
from renderer.detail_transfer import checked_gain, checked_neighbours

log = logging.getLogger(__name__)


class ExportBestGenerator(pl.Callback):
    """Save the generator (renderer.pt + renderer.yaml) whenever ``val/psnr`` improves."""

    def __init__(self, run_dir: str | Path, config: dict, monitor: str = "val/psnr"):
        self.run_dir = Path(run_dir)
        self.config = config
        self.monitor = monitor
        self.best = -float("inf")

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or float(value) <= self.best:
            return
        self.best = float(value)
        metrics = {
            k: round(float(v), 5)
            for k, v in trainer.callback_metrics.items()
            if k.startswith("val/")
        }
        record = {
            **self.config,
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "metrics": metrics,
        }
        save_renderer(self.run_dir, module.rendering_generator, record)

    # The best score travels in Lightning's checkpoint, so a resumed run only overwrites
    # renderer.pt with a generator that beats the one already exported.
    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = float(state_dict.get("best", self.best))


def detail_gain(cfg: DictConfig, has_bank: bool) -> float:
    """The ``detail_transfer`` gain the renderer is exported with: it takes detail from the
    reference bank's crops, so a renderer without a bank renders without it (said in the log)."""
    gain = checked_gain(cfg.get("detail_transfer", 0.0))
    if gain and not has_bank:
        log.warning("detail_transfer takes fine detail from the reference bank; this renderer has none "
                    "(mouth_reference=false or render_box=face), so it renders without it")
        return 0.0
    return gain


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule, dict]:
    """Instantiate the data module and the LightningModule; returns them and the export config."""
    temporal = cfg.render_model.get("temporal_discriminator")
    # a temporal discriminator needs each training pair with its previous frame's pair
    datamodule = instantiate(cfg.render_data, previous_frame=bool(temporal))
    datamodule.setup(
        "fit"
    )  # fail early on a missing or mismatched cache, before any network is built
    n_in = input_channels(bool(cfg.use_reference), bool(cfg.get("mouth_reference", False)))
    generator_cfg = OmegaConf.to_container(cfg.render_model.generator, resolve=True)
    if generator_cfg.get("residual") and datamodule.bank is None:
        raise LipsyncError("render_model.generator.residual corrects the reference bank's crop: "
                           "it needs mouth_reference=true and render_box=lower")
    generator_cfg["in_channels"] = n_in
    size = datamodule.render_box.size  # render_size (crop_size unless set)
    generator_cfg["crop_size"] = size
    generator_cfg.setdefault("bottleneck", odd_part(size))  # 192 px: 6 levels down to 3x3
    generator = instantiate(generator_cfg)
    # The discriminator judges (condition, image) pairs: condition channels + 3.
    discriminator = instantiate(cfg.render_model.discriminator, in_channels=n_in + 3)
    local = cfg.render_model.get("local_discriminator")
    local_discriminator = instantiate(local, in_channels=n_in + 3) if local else None
    # it judges (previous, current) images with both face maps: 4 x 3 channels
    temporal_discriminator = instantiate(temporal, in_channels=12) if temporal else None
    module = instantiate(cfg.render_model.module, generator=generator, discriminator=discriminator,
                         local_discriminator=local_discriminator, temporal_discriminator=temporal_discriminator)
    export = {
        "crop_size": int(cfg.crop_size),
        "use_reference": bool(cfg.use_reference),
        "mouth_reference": datamodule.bank is not None,
        "warp_reference": datamodule.bank is not None and bool(datamodule.hparams.warp_reference),
        "detail_transfer": detail_gain(cfg, datamodule.bank is not None),
        "detail_neighbours": checked_neighbours(cfg.get("detail_neighbours", 1)),
        "render_box": datamodule.render_box.to_dict(),
        "generator": generator_cfg,
        "face_map": datamodule.face_map_params.to_dict(),
        "cache": str(datamodule.cache_dir),
    }
    return datamodule, module, export


def start_from(module: pl.LightningModule, run_dir: str, export: dict) -> None:
    """Copy the exported generator of another renderer run (``init_from``, for example another
    anchor's, or a bundle's ``renderer/``) into ``module``'s generator and its weight average. The
    discriminators start fresh. The two generators must have the same layers and sizes (same
    generator settings and the same ``render_size``: its depth follows the size)."""
    generator, _ = load_generator(run_dir, crop_size=int(export["crop_size"]))
    state = generator.state_dict()
    if not same_layers(state, module.generator):
        raise LipsyncError(f"init_from={run_dir}: its generator is built otherwise than this run's (generator "
                           "settings or render_size differ); train with the same settings")
    module.generator.load_state_dict(state)
    if module.generator_average is not None:
        module.generator_average.module.load_state_dict(state)


def train(cfg: DictConfig, callbacks: list[pl.Callback] | None = None) -> dict:
    """Fit, then evaluate the best generator on the held-out block; returns its metrics.

    ``callbacks`` are added to the configured ones (fit times batches with one). The
    result maps metric names to floats, plus ``stop`` (``landmarks.training.stop_record``).
    """
    pl.seed_everything(int(cfg.seed), workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datamodule, module, export = build(cfg)
    if cfg.get("init_from"):
        start_from(module, str(cfg.init_from), export)
        export["init_from"] = str(cfg.init_from)
    # MeanOverRanks first: early stopping, checkpoints and the export must see the DDP-averaged metric.
    callbacks = [MeanOverRanks(), *(instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c),
                 *(callbacks or [])]
    exporter = ExportBestGenerator(out_dir, export)
    callbacks.append(exporter)
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=logger, default_root_dir=str(out_dir)
    )
    if datamodule.bank is not None and trainer.is_global_zero:
        datamodule.bank.save(out_dir)  # the renderer's reference crops travel with its weights
    # `resume` (set by lipsync-fit when a run was interrupted) continues from the Lightning checkpoint
    # this same run wrote into its own directory. It stores the optimizer partials of the hparams,
    # which weights-only loading refuses, so it is trusted as our own file; bundles never hold it.
    resume = cfg.get("resume")
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=False if resume else None)
    if exporter.best == -float("inf") and trainer.is_global_zero:
        # No validation ran (e.g. fast_dev_run with validation off): export the final weights.
        save_renderer(out_dir, module.rendering_generator, {**export, "metrics": {}})
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["best/val_psnr"] = exporter.best
    metrics["stop"] = stop_record(trainer)
    if trainer.is_global_zero:
        log.info("renderer: best held-out PSNR %.2f dB; model in %s", exporter.best, out_dir)
    return metrics


@hydra.main(config_path="../conf", config_name="renderer_train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    """Console entry point; returns the best held-out PSNR (for Hydra sweeps)."""
    return train(cfg)["best/val_psnr"]
