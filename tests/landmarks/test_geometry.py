"""Alignment, PCA and crop invariants."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.alignment import (
    apply_transform,
    build_reference,
    estimate_similarity,
    fit_transforms,
    invert_transform,
    lower_face_canonical,
    replace_lower_face,
)
from landmarks.crop import crop_to_frame, extract_crop, frame_to_crop, paste_crop
from landmarks.indices import LOWER_FACE
from landmarks.pca import LowerFacePCA


def random_faces(n: int, seed: int = 0) -> np.ndarray:
    """(n, 68, 2) plausible faces: a mean shape plus noise, moving and opening the mouth."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 100, (68, 2))
    faces = base + rng.normal(0, 1.0, (n, 68, 2))
    faces[:, 48:68, 1] += rng.uniform(0, 8, (n, 1))
    return faces


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.radians(angle_deg)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.concatenate([rot, np.array(shift)[:, None]], axis=1)


def test_estimate_similarity_recovers_a_known_transform():
    pts = random_faces(1)[0]
    true = similarity(23.0, 1.7, (40.0, -12.0))
    est = estimate_similarity(pts, apply_transform(true, pts))
    np.testing.assert_allclose(est, true, atol=1e-9)
    np.testing.assert_allclose(apply_transform(invert_transform(true), apply_transform(true, pts)), pts, atol=1e-9)


@pytest.mark.parametrize("angle,scale,shift", [(0, 1, (0, 0)), (17, 0.5, (300, 20)), (-40, 3.2, (-50, 90))])
def test_canonical_lower_face_is_invariant_to_rotation_scale_shift(angle, scale, shift):
    faces = random_faces(20)
    reference = build_reference(faces, np.ones(20, bool))
    moved = apply_transform(similarity(angle, scale, shift), faces)
    a = lower_face_canonical(faces, fit_transforms(faces, reference))
    b = lower_face_canonical(moved, fit_transforms(moved, reference))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_replace_lower_face_puts_a_shape_back_where_it_came_from():
    faces = random_faces(5)
    reference = build_reference(faces, np.ones(5, bool))
    transforms = fit_transforms(faces, reference)
    lower = lower_face_canonical(faces, transforms)
    rebuilt = replace_lower_face(faces[3], transforms[3], lower[3])
    np.testing.assert_allclose(rebuilt, faces[3], atol=1e-6)
    # Another frame's mouth lands in frame 3's pose while the upper face stays put.
    swapped = replace_lower_face(faces[3], transforms[3], lower[0])
    upper = np.setdiff1d(np.arange(68), LOWER_FACE)
    np.testing.assert_array_equal(swapped[upper], faces[3][upper])


def test_pca_round_trip_and_component_choice():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(300, 3))
    basis = rng.normal(size=(3, 62))
    shapes = (latent @ basis + rng.normal(0, 1e-3, (300, 62))).reshape(300, 31, 2)
    pca = LowerFacePCA.fit(shapes, explained_variance=0.999)
    assert pca.n_components == 3
    np.testing.assert_allclose(pca.decode(pca.encode(shapes)), shapes, atol=1e-2)
    fixed = LowerFacePCA.fit(shapes, n_components=5)
    assert fixed.n_components == 5


def test_pca_save_load_uses_plain_arrays(tmp_path):
    shapes = random_faces(50)[:, LOWER_FACE]
    pca = LowerFacePCA.fit(shapes, n_components=4)
    pca.save(tmp_path / "pca.npz")
    loaded = LowerFacePCA.load(tmp_path / "pca.npz")  # allow_pickle=False inside
    np.testing.assert_array_equal(loaded.components, pca.components)
    np.testing.assert_allclose(loaded.decode(loaded.encode(shapes)), pca.decode(pca.encode(shapes)))


def test_crop_point_mapping_is_an_exact_inverse():
    box = np.array([321.7, 180.2, 211.3])
    pts = np.random.default_rng(2).uniform(0, 600, (68, 2))
    np.testing.assert_allclose(crop_to_frame(frame_to_crop(pts, box, 128), box, 128), pts, atol=1e-9)
    corners = frame_to_crop(np.array([[box[0] - box[2] / 2, box[1] - box[2] / 2]]), box, 128)
    np.testing.assert_allclose(corners, [[-0.5, -0.5]], atol=1e-9)


def test_paste_back_of_the_original_crop_reproduces_the_frame():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    box = np.array([59.5, 44.5, 64.0])  # scale 1, integer-aligned: crop = frame[13:77, 28:92]
    crop = extract_crop(frame, box, 64)
    np.testing.assert_array_equal(crop, frame[13:77, 28:92])
    pasted = paste_crop(frame, crop, box)
    np.testing.assert_array_equal(pasted, frame)
    # A different crop changes only pixels inside the box.
    changed = paste_crop(frame, np.zeros_like(crop), box)
    outside = np.ones(frame.shape[:2], bool)
    outside[13:77, 28:92] = False
    np.testing.assert_array_equal(changed[outside], frame[outside])
    assert (changed[20:70, 35:85] == 0).all()
