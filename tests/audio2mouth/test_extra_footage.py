"""Other clips of the same anchor as extra training footage (audio2mouth/extra_footage.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from audio2mouth.datamodule import Audio2MouthDataModule
from audio2mouth.extra_footage import speech_coeffs_in
from audio2mouth.features import AudioFeatures
from landmarks.errors import LipsyncError
from landmarks.indices import LOWER_FACE
from landmarks.pca import LowerFacePCA
from tests.audio2mouth.conftest import write_fake_cache


def _rotation(deg: float, scale: float = 1.0) -> np.ndarray:
    a = np.radians(deg)
    return scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _clip(shapes: np.ndarray, reference: np.ndarray, pca: LowerFacePCA | None = None):
    n = len(shapes)
    return SimpleNamespace(root=Path("clip"), lower_face_indices=np.asarray(LOWER_FACE), valid=np.ones(n, bool),
                           lower_face_shapes=shapes.astype(np.float32),
                           pose_offsets=np.zeros_like(shapes, np.float32), reference=reference, pca=pca)


def test_a_rotated_and_shifted_copy_of_the_clip_gives_its_own_motion_back():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, (68, 2))
    neutral = rng.normal(0, 0.3, (len(LOWER_FACE), 2))
    motion = rng.normal(0, 1, (200, 3)) @ rng.normal(0, 0.05, (3, len(LOWER_FACE) * 2))
    shapes = neutral + motion.reshape(200, -1, 2)
    pca = LowerFacePCA.fit(shapes, n_components=3)
    main = _clip(shapes, reference, pca)
    coeffs = pca.encode(shapes)
    train = coeffs[:140]
    # The same motion seen by another camera setup: its canonical frame rotated 7 degrees and
    # scaled 1.05 (its own reference face), its neutral lower face elsewhere.
    turn = _rotation(7.0, 1.05)
    extra = _clip((shapes - shapes.mean(0)) @ turn.T + 0.2, reference @ turn.T, None)
    got = speech_coeffs_in(main, train, extra, match_motion=False)
    want = coeffs - coeffs.mean(0) + train.mean(0)
    np.testing.assert_allclose(got, want, atol=1e-4)
    # An anchor who moves the mouth twice as far in the other clip: matched to the main clip's train block.
    louder = _clip((shapes - shapes.mean(0)) @ (2 * turn).T + 0.2, reference @ turn.T, None)
    matched = speech_coeffs_in(main, train, louder, match_motion=True)
    spread = ((matched - train.mean(0)) ** 2).sum(1).mean()
    assert spread == pytest.approx(((train - train.mean(0)) ** 2).sum(1).mean(), rel=1e-4)
    np.testing.assert_allclose(matched - train.mean(0), (want - train.mean(0)) * np.sqrt(
        ((train - train.mean(0)) ** 2).sum(1).mean() / ((want - train.mean(0)) ** 2).sum(1).mean()), atol=1e-4)


def test_other_lower_face_points_are_refused():
    shapes = np.random.default_rng(1).normal(0, 1, (30, len(LOWER_FACE), 2))
    main = _clip(shapes, np.eye(68, 2), LowerFacePCA.fit(shapes, n_components=2))
    extra = _clip(shapes, np.eye(68, 2))
    extra.lower_face_indices = extra.lower_face_indices[::-1]
    with pytest.raises(LipsyncError, match="other lower-face points"):
        speech_coeffs_in(main, main.pca.encode(shapes), extra)


def test_extra_caches_add_training_windows_but_not_val_or_test(tmp_path: Path):
    reference = np.random.default_rng(2).normal(0, 1, (68, 2))
    main = write_fake_cache(tmp_path / "main-0001", seconds=40.0, reference=reference)
    extra = write_fake_cache(tmp_path / "more-0002", seconds=20.0, fps=30.0, seed=3,
                             reference=reference @ _rotation(4.0).T)
    alone = Audio2MouthDataModule(str(main), AudioFeatures(), window_s=1.0)
    alone.setup("fit")
    both = Audio2MouthDataModule(str(main), AudioFeatures(), window_s=1.0, extra_caches=[str(extra)])
    both.setup("fit")
    # 28 s of the main clip's train block, then the whole 20 s extra clip
    assert len(both.train_set.features) == pytest.approx(len(alone.train_set.features) + 2000, abs=5)
    assert max(both.train_set.starts) > len(alone.train_set.features)  # windows inside the extra clip
    assert np.isfinite(both.train_set.targets.numpy()).all()
    for name in ("val", "test"):
        np.testing.assert_array_equal(both.blocks[name][0]["coeffs"], alone.blocks[name][0]["coeffs"])
    np.testing.assert_array_equal(both.speaker.target_norm.mean, alone.speaker.target_norm.mean)
