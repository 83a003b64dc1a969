"""The pose/speech split of the lower face: exact round trip, pose found, speech left alone."""

from __future__ import annotations

import numpy as np

from landmarks import indices as ix
from landmarks.pose import PoseModel, pose_variance_share


def synthetic_faces(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 68, 2) canonical faces whose yaw moves the upper points and the lower face, plus an
    independent mouth opening that moves only the lower lip; returns (faces, yaw, opening)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.5, (68, 2))
    yaw = np.sin(np.linspace(0, 6, n)) * 0.1
    opening = np.abs(rng.normal(0, 0.1, n))
    yaw_dir = rng.normal(0, 1, (68, 2))
    faces = base[None] + yaw[:, None, None] * yaw_dir[None]
    lower_lip = [55, 56, 57, 58, 59, 65, 66, 67]
    faces[:, lower_lip, 1] += opening[:, None]
    faces += rng.normal(0, 1e-3, faces.shape)
    return faces, yaw, opening


def test_pose_plus_speech_is_the_shape_and_pose_takes_the_yaw():
    faces, yaw, opening = synthetic_faces()
    lower = faces[:, ix.LOWER_FACE]
    model = PoseModel.fit(faces, lower, n_components=2)
    pose = model.pose_part(faces)
    speech = lower - lower.mean(0) - pose
    np.testing.assert_allclose(lower.mean(0) + pose + speech, lower, atol=1e-5)  # exact round trip
    # the pose part follows the yaw, the speech part keeps the mouth opening
    assert abs(np.corrcoef(pose[:, 0, 0], yaw)[0, 1]) > 0.95
    up, low = list(ix.LOWER_FACE).index(62), list(ix.LOWER_FACE).index(66)
    speech_opening = (speech + lower.mean(0))[:, low, 1] - (speech + lower.mean(0))[:, up, 1]
    assert np.corrcoef(speech_opening, opening)[0, 1] > 0.95
    share = pose_variance_share(lower, pose)
    assert 0 < share["pose_share"] < 1 and abs(share["pose_share"] + share["speech_share"] - 1) < 1e-6


def test_pose_model_round_trips_through_plain_arrays_and_identity_is_zero(tmp_path):
    faces, _, _ = synthetic_faces(seed=1)
    lower = faces[:, ix.LOWER_FACE]
    model = PoseModel.fit(faces, lower, n_components=3)
    np.savez(tmp_path / "pose.npz", **model.arrays())
    with np.load(tmp_path / "pose.npz", allow_pickle=False) as data:
        loaded = PoseModel.from_arrays(dict(data), len(ix.LOWER_FACE))
    np.testing.assert_allclose(loaded.pose_part(faces), model.pose_part(faces), atol=1e-6)
    none = PoseModel.from_arrays({}, len(ix.LOWER_FACE))
    assert np.abs(none.pose_part(faces)).max() == 0 and none.pose_part(faces).shape == lower.shape
