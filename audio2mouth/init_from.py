"""Start training from another run's networks (``init_from=<run dir or model folder>``).

The use it was built for is fine-tuning: a first run trains on this clip plus other footage
(``data.extra_caches``, other speakers included), a second run starts from its networks and trains
on this clip alone. The two runs must predict the same coefficients, so the other run's model folder
must hold this clip's lip space: the same PCA and the same target normalization (a run on the same
cache, with or without extra footage, has them; a run on another anchor's cache does not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from audio2mouth.features import load_stats
from audio2mouth.speaker import SpeakerData
from landmarks.errors import LipsyncError
from landmarks.pca import LowerFacePCA
from landmarks.training import same_layers


def model_folder(path: str | Path) -> Path:
    """``run_dir/model`` or the model folder itself; a one-line error when neither holds weights."""
    path = Path(path)
    folder = path / "model" if (path / "model" / "weights.pt").exists() else path
    if not (folder / "weights.pt").exists():
        raise LipsyncError(f"init_from={path}: no audio2mouth weights there (expected model/weights.pt)")
    return folder


def check_same_lip_space(folder: Path, speaker: SpeakerData) -> None:
    """Refuse a model folder whose PCA or target normalization differ from ``speaker``'s."""
    pca = LowerFacePCA.load(folder / "pca.npz")
    stats = load_stats(folder / "stats.npz")
    same = (pca.components.shape == speaker.pca.components.shape
            and np.allclose(pca.components, speaker.pca.components, atol=1e-6)
            and np.allclose(pca.mean, speaker.pca.mean, atol=1e-6)
            and np.allclose(stats["target_mean"], speaker.target_norm.mean, atol=1e-6)
            and np.allclose(stats["target_std"], speaker.target_norm.std, atol=1e-6))
    if not same:
        raise LipsyncError(f"init_from={folder}: its networks predict another lip space (PCA or target "
                           "normalization differ): start only from a run on this same cache")


def load_initial_weights(net: nn.Module, path: str | Path, speaker: SpeakerData) -> Path:
    """Copy the weights of the run at ``path`` into ``net`` (same architecture, same ensemble size,
    same lip space); returns the model folder read."""
    folder = model_folder(path)
    check_same_lip_space(folder, speaker)
    state = torch.load(folder / "weights.pt", weights_only=True, map_location="cpu")
    if not same_layers(state, net):
        raise LipsyncError(f"init_from={folder}: its networks differ from this run's (model, features, "
                           "sizes or ensemble): train with the same settings")
    net.load_state_dict(state)
    return folder
