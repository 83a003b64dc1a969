"""Paste-back: round trip, nothing outside the mask changes, colour match, pass-through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from landmarks.crop import extract_crop
from landmarks.errors import LipsyncError
from renderer.paste import feather_mask, paste_back


def smooth_frame(h: int = 120, w: int = 160) -> np.ndarray:
    """A frame with smooth gradients (no detail finer than the crop's sampling)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack(
        [100 + 80 * np.sin(x / 23), 120 + 60 * np.cos(y / 17), 90 + 0.3 * x + 0.2 * y], -1
    )
    return np.clip(rgb, 0, 255).astype(np.uint8)


def lower_mask(size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[size // 2 : size - size // 8, size // 4 : size - size // 4] = 1
    return mask


def test_round_trip_is_exact_on_a_pixel_aligned_box():
    frame = np.random.default_rng(0).integers(0, 256, (100, 140, 3), dtype=np.uint8)
    size = 64
    box = np.array([70 - 0.5, 50 - 0.5, size])  # crop pixels = frame pixels shifted by an integer
    crop = extract_crop(frame, box, size)
    out = paste_back(frame, crop, box, feather_mask(lower_mask(size)))
    assert np.array_equal(out, frame)


def test_round_trip_on_a_scaled_box_is_close_and_outside_mask_is_untouched():
    frame = smooth_frame()
    size = 64
    box = np.array([81.3, 57.8, 90.0])  # 1.4 frame px per crop px, sub-pixel centre
    crop = extract_crop(frame, box, size)
    alpha = feather_mask(lower_mask(size))
    out = paste_back(frame, crop, box, alpha)
    diff = np.abs(out.astype(int) - frame.astype(int))
    assert diff.max() <= 3  # resampling twice only blurs a smooth image slightly

    # A completely different crop: only pixels under the feathered mask may change.
    noise = np.random.default_rng(1).integers(0, 256, crop.shape, dtype=np.uint8)
    out = paste_back(frame, noise, box, alpha)
    changed = np.any(out != frame, axis=-1)
    ys, xs = np.nonzero(changed)
    assert changed.any()
    # Changes stay inside the feathered mask's support, mapped to frame pixels (+1 px bilinear).
    rows, cols = np.nonzero(alpha > 0)
    cx, cy, side = box
    scale = side / size

    def to_frame(v, c):
        return c + (v - (size - 1) / 2) * scale

    assert ys.min() >= to_frame(rows.min(), cy) - 1.5 and ys.max() <= to_frame(rows.max(), cy) + 1.5
    assert xs.min() >= to_frame(cols.min(), cx) - 1.5 and xs.max() <= to_frame(cols.max(), cx) + 1.5
    assert ys.min() > cy - side / 2 + 5  # the upper face is never touched
    # Everywhere the warped weight is zero the frame is bit-for-bit the input.
    zero_alpha = paste_back(np.zeros_like(frame), np.full_like(crop, 255), box, alpha)[..., 0] == 0
    assert np.array_equal(out[zero_alpha], frame[zero_alpha])


def test_feather_mask_is_soft_and_zero_at_the_crop_edge():
    size = 64
    mask = np.zeros((size, size), np.uint8)
    mask[20:, 10:54] = 1  # reaches the bottom edge of the crop
    alpha = feather_mask(mask, feather=0.05)
    assert alpha.dtype == np.float32 and alpha.max() <= 1 and alpha.min() >= 0
    assert alpha[40, 32] > 0.95 and alpha[5, 32] == 0
    assert np.all(alpha[-1] == 0) and np.all(alpha[:, 0] == 0)  # the square edge never shows
    ramp = alpha[10:30, 32]
    assert np.all(np.diff(ramp) >= -1e-6) and 0.2 < alpha[20, 32] < 0.8  # soft, monotone seam


def test_colour_match_removes_a_constant_offset_at_the_seam():
    frame = smooth_frame()
    size = 64
    box = np.array([80.0, 60.0, 80.0])
    crop = extract_crop(frame, box, size)
    tinted = np.clip(crop.astype(int) + [12, -8, 6], 0, 255).astype(np.uint8)
    alpha = feather_mask(lower_mask(size))
    plain = paste_back(frame, tinted, box, alpha, colour_match=False)
    matched = paste_back(frame, tinted, box, alpha, colour_match=True)
    err_plain = np.abs(plain.astype(int) - frame).mean()
    err_matched = np.abs(matched.astype(int) - frame).mean()
    assert err_matched < 0.3 * err_plain


def test_box_outside_the_frame_changes_nothing():
    frame = smooth_frame()
    crop = np.zeros((32, 32, 3), np.uint8)
    out = paste_back(frame, crop, np.array([-500.0, -500.0, 40.0]), feather_mask(lower_mask(32)))
    assert np.array_equal(out, frame)


class _Identity:
    """Stands in for NeuralRenderer: paints a constant crop at the whole face crop, counts calls."""

    batch_size = 4
    use_reference = True
    bank = None

    def __init__(self, size: int):
        from landmarks.facemap import FaceMapParams
        from renderer.render_box import RenderBox

        self.box = RenderBox.whole_crop(size)
        self.face_map_params = FaceMapParams(size=size)
        self.rendered = 0

    def frame_box(self, crop_box):
        return np.asarray(crop_box, np.float32)

    def paste_weight(self, mask, feather=0.04):
        return feather_mask(mask, feather)

    def render(self, face_maps, references=None, lower_masks=None, mouth_refs=None, detail_refs=None):
        self.rendered += len(face_maps)
        return np.full_like(face_maps, 200)


def test_render_and_paste_passes_faceless_frames_through_and_refuses_short_templates():
    from renderer.inference import render_and_paste

    size, n = 32, 6
    frames = [smooth_frame(80, 100) for _ in range(n)]
    boxes = np.tile([50.0, 40.0, 40.0], (n, 1))
    landmarks = np.random.default_rng(0).uniform(35, 60, (n, 68, 2))  # any face inside the box
    valid = np.array([True, False, True, True, False, True])
    fake = _Identity(size)
    out = list(render_and_paste(fake, iter(frames), boxes, landmarks, landmarks, valid, colour_match=False))
    assert len(out) == n and fake.rendered == valid.sum()
    for frame, result, ok in zip(frames, out, valid, strict=True):
        assert np.array_equal(result, frame) != ok
    with pytest.raises(LipsyncError, match="template has 4 frames"):
        list(render_and_paste(fake, iter(frames[:4]), boxes, landmarks, landmarks, valid))


def test_cut_and_paste_keeps_fine_detail_at_a_sub_pixel_offset():
    """Bicubic warps: a 1:1 box at a fractional centre keeps most of the texture's Laplacian
    variance through extract_crop + paste_back (two bilinear warps keep about 0.4 of it)."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (160, 160, 3)).astype(np.float32)
    frame = np.clip(cv2.GaussianBlur(noise, (0, 0), 0.7), 0, 255).astype(np.uint8)
    size, box = 100, np.array([80.3, 79.6, 100.0])
    out = paste_back(frame, extract_crop(frame, box, size), box, np.ones((size, size), np.float32))

    def detail(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(cv2.Laplacian(grey, cv2.CV_32F)[50:110, 50:110].var())

    assert detail(out) / detail(frame) > 0.75
