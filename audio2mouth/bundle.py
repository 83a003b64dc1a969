"""The self-describing model folder a training run writes (``<run_dir>/model/``).

=============  ===============================================================
config.yaml    the generator's Hydra config, the feature config, sizes, ensemble size, version
weights.pt     generator ``state_dict`` only (tensors; loaded weights_only=True); an ensemble's
               members under ``members.<i>.``
stats.npz      feature mean/std, target mean/std, rest (closed-mouth) coeffs, fps
pca.npz        LowerFacePCA arrays (speech part) + lower_face indices (P,) + reference (68, 2)
               + the pose model's pose_* arrays (landmarks/pose.py)
=============  ===============================================================

Nothing here is a pickle: YAML, plain arrays and a tensor-only state dict, and
network classes are only built from ``audio2mouth.components``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from audio2mouth.components.ensemble import Ensemble, ensemble_size
from audio2mouth.features import AudioFeatures, Normalizer, load_stats, save_stats
from audio2mouth.speaker import SpeakerData
from landmarks.errors import LipsyncError
from landmarks.pca import LowerFacePCA
from landmarks.pose import PoseModel

BUNDLE_VERSION = 2  # 2: speech-part PCA + pose model
SAFE_PREFIX = "audio2mouth.components."


def save_bundle(
    run_dir: str | Path,
    net_cfg: DictConfig,
    features_cfg: DictConfig,
    net: nn.Module,
    speaker: SpeakerData,
    name: str,
) -> Path:
    """Write ``run_dir/model`` atomically (a temporary folder renamed when complete)."""
    final = Path(run_dir) / "model"
    tmp = Path(run_dir) / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cfg = OmegaConf.create(
        {
            "format_version": BUNDLE_VERSION,
            "name": name,
            "net": net_cfg,
            "features": features_cfg,
            "n_features": int(speaker.feature_norm.mean.shape[0]),
            "n_coeffs": int(speaker.target_norm.mean.shape[0]),
            "ensemble": ensemble_size(net),
        }
    )
    OmegaConf.save(cfg, tmp / "config.yaml", resolve=True)
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp / "weights.pt")
    save_stats(
        tmp / "stats.npz",
        feature_mean=speaker.feature_norm.mean,
        feature_std=speaker.feature_norm.std,
        target_mean=speaker.target_norm.mean,
        target_std=speaker.target_norm.std,
        rest_coeffs=speaker.rest_coeffs,
        fps=np.float64(speaker.fps),
        output_gain=speaker.gain(),
        opening_gain=np.float32(speaker.opening_gain),
    )
    pose = speaker.pose or PoseModel.identity(len(speaker.lower_face_indices))
    speaker.pca.save(
        tmp / "pca.npz", lower_face=speaker.lower_face_indices, reference=speaker.reference, **pose.arrays()
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


@dataclass
class Audio2MouthModel:
    """A loaded model folder: the generator in eval mode and everything to use it."""

    name: str
    net: nn.Module
    features: AudioFeatures
    speaker: SpeakerData

    @property
    def future_context(self) -> int:
        return int(getattr(self.net, "future_context", 0))


def build_net(net_cfg: DictConfig, n_features: int, n_coeffs: int, ensemble: int = 1) -> nn.Module:
    """Instantiate a generator (``ensemble`` > 1: that many, averaged) from its partial config,
    refusing classes outside components/."""
    target = str(net_cfg.get("_target_", ""))
    if not target.startswith(SAFE_PREFIX):
        raise LipsyncError(f"refusing to build {target!r}: not an audio2mouth component")
    return Ensemble.build(instantiate(net_cfg), ensemble, in_features=n_features, out_features=n_coeffs)


def load_bundle(path: str | Path) -> Audio2MouthModel:
    """Load ``run_dir`` or ``run_dir/model`` without unpickling anything."""
    path = Path(path)
    folder = path / "model" if (path / "model" / "config.yaml").exists() else path
    if not (folder / "config.yaml").exists():
        raise LipsyncError(f"not a trained audio2mouth run (no model/config.yaml): {path}")
    cfg = OmegaConf.load(folder / "config.yaml")
    if cfg.get("format_version") != BUNDLE_VERSION:
        raise LipsyncError(
            f"{folder} has format version {cfg.get('format_version')}, "
            f"this code reads {BUNDLE_VERSION}"
        )
    net = build_net(cfg.net, int(cfg.n_features), int(cfg.n_coeffs), int(cfg.get("ensemble", 1)))
    net.load_state_dict(torch.load(folder / "weights.pt", weights_only=True, map_location="cpu"))
    net.eval()
    feats_cfg = OmegaConf.to_container(cfg.features)
    feats_cfg.pop("_target_", None)
    stats = load_stats(folder / "stats.npz")
    pca_arrays = load_stats(folder / "pca.npz")
    speaker = SpeakerData(
        feature_norm=Normalizer(stats["feature_mean"], stats["feature_std"]),
        target_norm=Normalizer(stats["target_mean"], stats["target_std"]),
        pca=LowerFacePCA.load(folder / "pca.npz"),
        lower_face_indices=pca_arrays["lower_face"],
        reference=pca_arrays["reference"],
        rest_coeffs=stats["rest_coeffs"],
        fps=float(stats["fps"]),
        output_gain=stats["output_gain"],
        opening_gain=float(stats.get("opening_gain", 1.0)),  # absent from bundles made before it existed
        pose=PoseModel.from_arrays(pca_arrays, len(pca_arrays["lower_face"])),
    )
    return Audio2MouthModel(str(cfg.name), net, AudioFeatures(**feats_cfg), speaker)
