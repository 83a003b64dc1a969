"""The lip loss's linear map, and the loss term it adds to training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio2mouth.components import TCNGenerator
from audio2mouth.features import Normalizer
from audio2mouth.lip_space import lip_space_map
from audio2mouth.module import Audio2MouthModule
from audio2mouth.speaker import SpeakerData
from landmarks.indices import LIPS, LOWER_FACE
from landmarks.pca import LowerFacePCA


def _speaker(seed: int = 0, n_components: int = 5) -> SpeakerData:
    rng = np.random.default_rng(seed)
    shapes = rng.normal(size=(1, len(LOWER_FACE), 2)) + 0.05 * rng.normal(size=(300, len(LOWER_FACE), 2))
    pca = LowerFacePCA.fit(shapes.astype(np.float32), n_components=n_components)
    coeffs = pca.encode(shapes)
    return SpeakerData(
        feature_norm=Normalizer(np.zeros(3, np.float32), np.ones(3, np.float32)),
        target_norm=Normalizer(coeffs.mean(0), coeffs.std(0)), pca=pca, lower_face_indices=np.asarray(LOWER_FACE),
        reference=np.zeros((68, 2), np.float32), rest_coeffs=coeffs.mean(0), fps=25.0)


def test_the_map_gives_the_centred_lip_points_up_to_one_scale():
    speaker = _speaker()
    lip_map = lip_space_map(speaker)
    outputs = np.random.default_rng(1).normal(size=(2, speaker.pca.n_components)).astype(np.float32)
    shapes = speaker.pca.decode(speaker.target_norm.invert(outputs))[:, np.isin(LOWER_FACE, LIPS)]
    centred = shapes - shapes.mean(1, keepdims=True)
    expected = (centred[0] - centred[1]).ravel()
    mapped = (outputs[0] - outputs[1]) @ lip_map
    scale = expected @ mapped / (mapped @ mapped)  # the map's one normalizing constant
    assert scale > 0
    np.testing.assert_allclose(mapped * scale, expected, atol=1e-5)
    # unit-variance outputs move a lip coordinate by about 1 (the coefficient L1's scale)
    assert np.sqrt((lip_map**2).sum(0)).mean() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("move", ["jaw contour", "lips shifted"])
def test_moves_that_lmd_does_not_see_cost_nothing(move):
    """With a complete PCA basis, a jaw-only move and a rigid shift of the lips map to zero."""
    speaker = _speaker(n_components=2 * len(LOWER_FACE))
    on_lips = np.isin(LOWER_FACE, LIPS)
    delta = np.zeros((len(LOWER_FACE), 2), np.float32)
    if move == "jaw contour":
        delta[~on_lips] = np.random.default_rng(2).normal(scale=0.1, size=((~on_lips).sum(), 2))
    else:
        delta[on_lips] = [0.1, -0.05]
    step = (delta.ravel() @ speaker.pca.components.T) / speaker.target_norm.std  # in normalized outputs
    lip_map = lip_space_map(speaker)
    assert np.abs(step @ lip_map).max() < 1e-4 * np.abs(step).max()
    # and a change of the lips' shape does cost
    delta[on_lips] = np.random.default_rng(3).normal(scale=0.1, size=(on_lips.sum(), 2))
    assert np.abs(((delta.ravel() @ speaker.pca.components.T) / speaker.target_norm.std) @ lip_map).max() > 0.1


def test_lip_loss_adds_to_the_reconstruction_and_is_zero_at_the_truth():
    speaker = _speaker()
    net = lambda in_features, out_features: TCNGenerator(in_features, out_features, channels=8, dilations=[1])  # noqa: E731
    plain = Audio2MouthModule(net, torch.optim.Adam, n_features=3, n_coeffs=5)
    with_lips = Audio2MouthModule(net, torch.optim.Adam, n_features=3, n_coeffs=5, lip_loss=2.0)
    for module in (plain, with_lips):
        module.attach_speaker(speaker)
    target = torch.randn(2, 10, 5)
    pred = target + 0.3 * torch.randn(2, 10, 5)
    mask = torch.ones(2, 10, dtype=torch.bool)
    assert with_lips._reconstruction(target, target, mask).item() == pytest.approx(0.0, abs=1e-6)
    extra = with_lips._reconstruction(pred, target, mask) - plain._reconstruction(pred, target, mask)
    lip_map = torch.from_numpy(lip_space_map(speaker))
    assert extra.item() == pytest.approx(2.0 * (pred @ lip_map - target @ lip_map).abs().mean().item(), rel=1e-5)
    with pytest.raises(RuntimeError, match="attach_speaker"):
        unattached = Audio2MouthModule(net, torch.optim.Adam, n_features=3, n_coeffs=5, lip_loss=1.0)
        unattached._reconstruction(pred, target, mask)
