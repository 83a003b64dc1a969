"""Train one audio2mouth model on one speaker cache.

    audio2mouth-train speaker=lieu paths.cache_dir=/work/cache model=adv_tcn seed=0
    audio2mouth-train -m experiment=compare paths.cache_dir=/work/cache     # models x seeds

The run directory (Hydra's output dir) receives ``model/`` (see ``bundle.py``),
``results.json`` (test metrics, Table II timings), ``test_predictions.npz``
(true and predicted coefficients on the test block, for the comparison plot)
and the logger's files.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from audio2mouth.bundle import save_bundle
from audio2mouth.inference import time_inference
from audio2mouth.init_from import load_initial_weights
from audio2mouth.pretrain import pretrain_then_finetune
from audio2mouth.refit import refit
from audio2mouth.silence import DEFAULT_GATE
from audio2mouth.weights import kept_state, make_weight_keeper
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.training import MeanOverRanks, stop_record

# calibrate=true is the least-squares per-coefficient gain (``shrink``), kept for old configs
CALIBRATIONS = (False, True, "opening", "sqrt_r", "shrink")


class BatchTimer(Callback):
    """Wall time of every training batch (s), including the optimizer steps."""

    def __init__(self):
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter() - self._t0)


def gate_weight(cfg: DictConfig, datamodule) -> np.ndarray | None:
    """(T,) where speak's default silence gate will rest the mouth in the val block's frames, for the
    opening gain's fit (``calibrate_gated``); None when off."""
    if not cfg.get("calibrate_gated", False):
        return None
    audio, times = datamodule.val_audio
    return DEFAULT_GATE.weight(audio, times) if len(audio) else None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _test(trainer: pl.Trainer, module, datamodule) -> dict[str, float]:
    """Test metrics of ``module`` on the held-out block, keyed without their ``test/`` prefix."""
    metrics = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    return {k.split("/", 1)[1]: float(v) for k, v in metrics.items()}


def train(cfg: DictConfig, callbacks: list[Callback] | None = None) -> dict:
    """Fit, test on the held-out block, save the model folder; returns results.json's dict.

    ``callbacks`` are added to the configured ones (fit times batches with one). Under DDP
    every rank trains and tests; only rank 0 writes the model folder and results.json.
    With ``pretrain_caches`` it trains twice (audio2mouth/pretrain.py).
    """
    if cfg.get("pretrain_caches"):
        results = pretrain_then_finetune(cfg, train, callbacks)
        if "model" in results:  # rank 0 wrote results.json; it gains the first pass's record
            _write_json(Path(cfg.paths.output_dir) / "results.json", results)
        return results
    calibrate = cfg.get("calibrate", False)
    if calibrate not in CALIBRATIONS:  # checked before a training run is spent on it
        raise LipsyncError(f"calibrate={calibrate!r}: expected one of false, opening, sqrt_r, shrink")
    pl.seed_everything(int(cfg.seed), workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    module = instantiate(cfg.model, n_features=datamodule.n_features, n_coeffs=datamodule.n_coeffs,
                         n_visemes=datamodule.features.n_visemes, ensemble=int(cfg.get("ensemble", 1)))
    module.attach_speaker(datamodule.speaker)
    if cfg.get("init_from"):  # fine-tuning: start from another run's networks (same cache, same settings)
        load_initial_weights(module.net, str(cfg.init_from), datamodule.speaker)

    timer = BatchTimer()
    keeper = make_weight_keeper(str(cfg.get("weights", "best")), float(cfg.get("average_from", 0.5)),
                                str(cfg.get("weights_monitor", "val/mse")))
    # MeanOverRanks first: early stopping, the weight keeper and checkpoints must see the DDP-averaged metric.
    callbacks = [MeanOverRanks(), timer, keeper, *(instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c),
                 *(callbacks or [])]
    if cfg.get("checkpoint", False):  # Lightning checkpoints, for resuming long runs
        callbacks.append(ModelCheckpoint(dirpath=out_dir / "checkpoints", monitor="val/mse", save_last=True))
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)

    t0 = time.perf_counter()
    # `resume` (set by lipsync-fit after an interruption) is the last.ckpt this same run wrote into its
    # own directory; it holds hparams that weights-only loading refuses, so it is trusted as our file.
    resume = cfg.get("resume")
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=False if resume else None)
    train_time = time.perf_counter() - t0
    if kept_state(keeper) is not None:
        module.net.load_state_dict(kept_state(keeper))
    if calibrate:  # output gain from the val block: on the opening direction, or per coefficient
        trainer.validate(module, datamodule=datamodule, verbose=False)
        mode = "shrink" if calibrate is True else str(calibrate)
        if mode == "opening":
            datamodule.speaker.opening_gain = module.fit_opening_gain("val", rest_weight=gate_weight(cfg, datamodule))
        else:
            datamodule.speaker.output_gain = module.fit_output_gain("val", mode)
    stop = stop_record(trainer)
    refit_record, first_data = None, datamodule
    if cfg.get("refit", False):
        first = _test(trainer, module, datamodule)
        t1 = time.perf_counter()
        outcome = refit(cfg, datamodule, trainer, keeper, train_time)
        if isinstance(outcome, str):
            print(f"note: {outcome}")
            refit_record = {"skipped": outcome}
        else:
            module, datamodule, trainer, epochs = outcome
            refit_record = {"epochs": epochs, "train_s": time.perf_counter() - t1, "first_pass_test": first}
    test_metrics = _test(trainer, module, datamodule)
    if not trainer.is_global_zero:
        return {"test": test_metrics, "stop": stop}

    save_bundle(
        out_dir,
        cfg.model.net,
        cfg.data.features,
        module.net,
        datamodule.speaker,
        str(cfg.model.name),
    )
    speed = time_inference(module.net, datamodule.features, repeats=3)
    ev = module.last_eval["test"]
    tmp = out_dir / "test_predictions.tmp.npz"
    np.savez(
        tmp,
        **ev,
        pca_mean=datamodule.speaker.pca.mean,
        pca_components=datamodule.speaker.pca.components,
        lower_face=datamodule.speaker.lower_face_indices,
    )
    os.replace(tmp, out_dir / "test_predictions.npz")
    true = ev["true"][ev["valid"]]
    # The bar every model must clear: always predicting the training mean of the coefficients (the train
    # block's, also after a refit, so the two passes are measured against the same bar).
    mean_mse = float(((true - first_data.speaker.target_norm.mean) ** 2).mean()) if len(true) else float("nan")
    if refit_record and "first_pass_test" in refit_record:
        first = refit_record["first_pass_test"]
        first["mse_over_mean_predictor"] = first["mse"] / mean_mse if mean_mse > 0 else float("nan")
    results = {
        "model": str(cfg.model.name),
        "features": str(cfg.data.features.kind),
        "augment": bool((cfg.data.get("augment") or {}).get("enabled", False)),
        "seed": int(cfg.seed),
        "cache": str(datamodule.cache_path),
        "extra_caches": list(datamodule.extra_caches),
        "init_from": str(cfg.init_from) if cfg.get("init_from") else None,
        "test": test_metrics,
        "target_variance": float(true.var(0).mean()) if len(true) else float("nan"),
        "mean_predictor_mse": mean_mse,
        "mse_over_mean_predictor": float(test_metrics["mse"] / mean_mse) if mean_mse > 0 else float("nan"),
        "weights": str(cfg.get("weights", "best")),
        # weights=best only: the kept epoch's value of the monitored val metric
        "best_val": ({keeper.monitor: keeper.best, "epoch": keeper.epoch}
                     if hasattr(keeper, "monitor") else None),
        "output_gain": datamodule.speaker.gain().tolist(),
        "opening_gain": float(datamodule.speaker.opening_gain),
        "calibrate_gated": bool(cfg.get("calibrate_gated", False)),
        "train_batch_s": float(np.median(timer.times)) if timer.times else float("nan"),
        "train_batches": len(timer.times),
        "train_total_s": train_time,
        "epochs": int(trainer.current_epoch),
        "stop": stop,
        "refit": refit_record,
        "threads": torch.get_num_threads(),
        **speed,
    }
    _write_json(out_dir / "results.json", results)
    return results


@hydra.main(config_path="../conf", config_name="audio2mouth_train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    results = train(cfg)
    print(OmegaConf.to_yaml(OmegaConf.create(results)))
    return results["test"]["mse"]


if __name__ == "__main__":
    main()
