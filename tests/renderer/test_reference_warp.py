"""Warping the reference bank's crop onto the target's landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from landmarks.errors import LipsyncError
from renderer.datamodule import RendererDataModule
from renderer.reference_bank import ReferenceBank
from renderer.reference_warp import mean_warped, warp_field, warp_reference

SIZE = 96


def _face_landmarks(rng: np.random.Generator) -> np.ndarray:
    """(68, 2) points spread over a face-like layout inside a SIZE box."""
    points = rng.uniform((0.2 * SIZE, 0.1 * SIZE), (0.8 * SIZE, 0.5 * SIZE), (68, 2))  # brows, eyes, nose
    jaw = np.linspace(np.pi, 2 * np.pi, 17)
    points[:17] = np.stack([0.5 * SIZE + 0.4 * SIZE * np.cos(jaw), 0.5 * SIZE - 0.4 * SIZE * np.sin(jaw)], 1)
    outer = np.linspace(np.pi, -np.pi, 12, endpoint=False)  # 48 at the left corner, 51 on top, 57 below
    inner = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    points[48:60] = np.stack([0.5 * SIZE + 16 * np.cos(outer), 0.7 * SIZE - 8 * np.sin(outer)], 1)
    points[60:68] = np.stack([0.5 * SIZE + 10 * np.cos(inner), 0.7 * SIZE - 3 * np.sin(inner)], 1)
    return points


def _texture(seed: int = 0) -> np.ndarray:
    """(SIZE, SIZE, 3) uint8 smooth random texture (bicubic sampling stays close on it)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (SIZE // 8, SIZE // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_same_landmarks_leave_the_crop_as_it_is():
    rng = np.random.default_rng(0)
    points = _face_landmarks(rng)
    field = warp_field(points, points, SIZE)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    np.testing.assert_allclose(field[..., 0], xs, atol=0.01)
    np.testing.assert_allclose(field[..., 1], ys, atol=0.01)
    crop = _texture()
    assert np.abs(warp_reference(crop, points, points).astype(int) - crop).max() <= 1


def test_a_shifted_head_is_moved_back_onto_the_target():
    """The reference's face sits 4 px right and 3 px down: the warp samples it there."""
    rng = np.random.default_rng(1)
    target = _face_landmarks(rng)
    reference = target + np.array([4.0, 3.0])
    field = warp_field(reference, target, SIZE)
    inner = slice(20, 76)  # inside the landmarks' hull, away from the pinned border
    np.testing.assert_allclose(field[inner, inner, 0] - np.arange(SIZE)[inner], 4.0, atol=0.05)
    np.testing.assert_allclose(field[inner, inner, 1] - np.arange(SIZE)[inner, None], 3.0, atol=0.05)


def test_a_moved_lower_lip_lands_on_its_target_and_the_border_stays():
    rng = np.random.default_rng(2)
    target = _face_landmarks(rng)
    reference = target.copy()
    lower_lip = [56, 57, 58, 65, 66, 67]
    reference[lower_lip] += (0.0, 5.0)  # the reference's lower lip sits 5 px lower
    field = warp_field(reference, target, SIZE)
    x, y = np.rint(target[57]).astype(int)
    # sampled (nearly) where the reference has that point; the grid interpolation costs a little
    assert abs(field[y, x, 1] - (y + 5.0)) < 0.5
    x, y = np.rint(target[51]).astype(int)  # the upper lip did not move
    assert abs(field[y, x, 1] - y) < 0.5
    np.testing.assert_allclose(field[0, :, 1], 0.0, atol=0.01)
    np.testing.assert_allclose(field[-1, :, 0], np.arange(SIZE), atol=0.01)


def test_bank_warps_only_with_landmarks(tmp_path):
    rng = np.random.default_rng(3)
    points = np.stack([_face_landmarks(rng) for _ in range(2)]).astype(np.float32)
    crops = np.stack([_texture(1), _texture(2)])
    bank = ReferenceBank(crops, np.zeros((2, 40), np.float32), np.zeros(2, np.float32), points)
    raw = bank.references(np.array([1, 0]))
    np.testing.assert_array_equal(raw, crops[[1, 0]])
    warped = bank.references(np.array([1]), points[[0]])
    np.testing.assert_array_equal(warped[0], warp_reference(crops[1], points[1], points[0]))
    bank.save(tmp_path)
    np.testing.assert_array_equal(ReferenceBank.load(tmp_path).landmarks, points)
    old = ReferenceBank(crops, np.zeros((2, 40), np.float32), np.zeros(2, np.float32))
    old.save(tmp_path)
    assert ReferenceBank.load(tmp_path).landmarks is None
    with pytest.raises(LipsyncError, match="no landmarks"):
        old.references(np.array([0]), points[[0]])


def test_training_pairs_carry_the_reference_warped_onto_their_own_landmarks(fake_cache):
    cache_dir = fake_cache(size=64, n_frames=150)
    common = dict(cache=str(cache_dir), crop_size=64, batch_size=4, render_box="lower",
                  mouth_reference=True, bank_size=16, exclude_s=1.0)
    plain, warped = RendererDataModule(**common), RendererDataModule(**common, warp_reference=True)
    plain.setup()
    warped.setup()
    j = 5
    k = int(warped.train_set.ref_index[j])
    target = warped.train_set.source.landmarks(int(warped.train_set.indices[j]))
    expected = warp_reference(warped.bank.crops[k], warped.bank.landmarks[k], target)
    np.testing.assert_array_equal(warped.train_set[j]["mouth_ref"].permute(1, 2, 0).numpy(), expected)
    np.testing.assert_array_equal(plain.train_set[j]["mouth_ref"].permute(1, 2, 0).numpy(), warped.bank.crops[k])



def test_the_mean_of_warped_crops_is_the_mean_of_each_warp():
    """Several references warped onto one target share its triangulation; each lands as it would alone."""
    rng = np.random.default_rng(5)
    points = np.stack([_face_landmarks(rng) for _ in range(4)]).astype(np.float32)
    crops = np.stack([_texture(k) for k in range(3)])
    target = points[3]
    alone = np.stack([warp_reference(c, p, target) for c, p in zip(crops, points[:3], strict=True)])
    mean = mean_warped(crops, points[:3], target)
    assert np.abs(mean.astype(int) - np.rint(alone.astype(np.float32).mean(0))).max() <= 1
    np.testing.assert_array_equal(mean_warped(crops[:1], points[:1], target), alone[0])


def test_what_the_crops_share_stays_and_what_one_has_fades():
    rng = np.random.default_rng(6)
    points = _face_landmarks(rng).astype(np.float32)
    shared = _texture(10).astype(np.float32)
    own = [np.random.default_rng(20 + k).normal(0, 30, shared.shape) for k in range(6)]
    crops = np.stack([np.clip(shared + o, 0, 255) for o in own]).astype(np.uint8)
    mean = mean_warped(crops, np.repeat(points[None], 6, 0), points).astype(np.float32)
    single = crops[0].astype(np.float32)
    # against the shared texture the mean errs about 1/sqrt(6) as much as one crop
    assert np.abs(mean - shared).std() < 0.5 * np.abs(single - shared).std()


def test_the_k_nearest_bank_entries_nearest_first():
    rng = np.random.default_rng(7)
    descriptors = rng.normal(size=(20, 40)).astype(np.float32)
    bank = ReferenceBank(np.zeros((20, 8, 8, 3), np.uint8), descriptors, np.zeros(20, np.float32))
    queries = rng.normal(size=(5, 40)).astype(np.float32)
    near = bank.nearest_k(queries, 4)
    distance = np.linalg.norm(queries[:, None] - descriptors[None], axis=-1)
    np.testing.assert_array_equal(near, np.argsort(distance, 1)[:, :4])
    np.testing.assert_array_equal(near[:, 0], bank.nearest(queries))
    assert bank.nearest_k(queries, 50).shape == (5, 20)  # no more than the bank holds
