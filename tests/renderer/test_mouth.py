"""The renderer's mouth: render box, reference bank, and the measures that see a soft mouth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from landmarks import indices as ix
from landmarks.cache import SpeakerCache
from landmarks.crop import extract_crop
from landmarks.errors import LipsyncError
from landmarks.facemap import FaceMapParams
from landmarks.media import iter_frames
from renderer.datamodule import RendererDataModule
from renderer.mouth_metrics import MouthMeter, mouth_box
from renderer.reference_bank import ReferenceBank, farthest_points
from renderer.render_box import RenderBox, choose_render_size


def test_whole_crop_box_maps_back_to_the_crop_boxes():
    boxes = np.array([[100.0, 80.0, 64.0], [103.5, 77.25, 70.0]])
    box = RenderBox.whole_crop(128)
    assert box.is_whole_crop
    np.testing.assert_allclose(box.frame_boxes(boxes), boxes, atol=1e-4)
    assert box.face_map_params(FaceMapParams(size=128)) == FaceMapParams(size=128)


def test_lower_face_box_holds_the_lips_and_is_tighter(fake_cache):
    cache = SpeakerCache(fake_cache(size=64, n_frames=40))
    lms = np.stack([cache.landmarks_in_crop(i) for i in range(cache.n_frames)])
    box = RenderBox.fit_lower_face(lms, 64, 64)
    assert not box.is_whole_crop and box.side < 64
    frame_boxes = box.frame_boxes(cache.crop_boxes)
    lips = cache.landmarks[:, ix.LIPS]  # frame px
    half = frame_boxes[:, None, 2] / 2
    assert (np.abs(lips - frame_boxes[:, None, :2]) < half[..., None]).all()
    # mask growth stays the same in face units: more box pixels per face pixel
    params = box.face_map_params(cache.face_map_params)
    assert params.size == 64 and params.mask_dilate > cache.face_map_params.mask_dilate
    assert RenderBox.from_dict(box.to_dict()) == box


def test_render_size_auto_follows_the_box_in_the_footage():
    assert choose_render_size("auto", np.array([190.0, 193.0, 195.0]), 128) == 192  # macron's box
    assert choose_render_size("auto", np.array([120.0, 130.0]), 128) == 128  # never below the crop
    assert choose_render_size("auto", np.array([2000.0]), 128) == 512  # capped
    assert choose_render_size(160, np.array([1.0]), 128) == 160
    for bad in ("big", 100, 0):
        with pytest.raises(LipsyncError, match="render_size"):
            choose_render_size(bad, np.array([150.0]), 128)
    box = RenderBox(10.0, 20.0, 30.0, 128, 128).with_size(192)
    assert box.size == 192 and box.side == 30.0 and box.face_map_params(FaceMapParams(size=128)).size == 192


def test_bank_spreads_over_shapes_and_never_leaks_the_target():
    rng = np.random.default_rng(0)
    desc = rng.normal(size=(200, 40)).astype(np.float32)
    pick = farthest_points(desc, 20)
    assert len(set(pick.tolist())) == 20
    times = np.arange(200) / 25.0
    bank = ReferenceBank(np.zeros((20, 8, 8, 3), np.uint8), desc[pick], times[pick].astype(np.float32))
    # without exclusion a bank frame is its own nearest; with it, never one within 1 s
    assert (bank.nearest(desc[pick]) == np.arange(20)).all()
    chosen = bank.nearest(desc, times, exclude_s=1.0)
    assert (np.abs(bank.times[chosen] - times) >= 1.0).all()


def test_bank_sequence_does_not_flip_between_near_equal_references(tmp_path):
    desc = np.zeros((2, 40), np.float32)
    desc[1, 0] = 1.0
    bank = ReferenceBank(np.zeros((2, 4, 4, 3), np.uint8), desc, np.zeros(2, np.float32))
    # targets alternate just either side of the midpoint: nearest flips every frame
    wobble = np.zeros((10, 40), np.float32)
    wobble[:, 0] = 0.5 + 0.02 * (-1) ** np.arange(10)
    assert len(set(bank.nearest(wobble).tolist())) == 2
    assert len(set(bank.sequence(wobble).tolist())) == 1
    # a clear move to the other shape does switch
    far = np.concatenate([wobble, np.tile(desc[1:], (3, 1))])
    assert bank.sequence(far)[-1] == 1
    bank.save(tmp_path)
    again = ReferenceBank.load(tmp_path)
    np.testing.assert_array_equal(again.descriptors, bank.descriptors)


def test_lower_box_pairs_come_from_the_footage_with_a_reference(fake_cache):
    cache_dir = fake_cache(size=64, n_frames=150)
    dm = RendererDataModule(cache=str(cache_dir), crop_size=64, batch_size=4, render_box="lower",
                            mouth_reference=True, bank_size=16, exclude_s=1.0)
    dm.setup()
    cache = SpeakerCache(cache_dir)
    frames = [rgb for _, rgb in iter_frames(cache.meta["source"]["video"])]
    item = dm.train_set[5]
    i = int(item["index"])
    expected = extract_crop(frames[i], dm.render_box.frame_boxes(cache.crop_boxes[i : i + 1])[0], 64)
    np.testing.assert_array_equal(item["crop"].permute(1, 2, 0).numpy(), expected)
    assert item["mouth_ref"].shape == (3, 64, 64)
    # every training pair's reference is at least exclude_s away from its own frame
    ref_times = dm.bank.times[dm.train_set.ref_index]
    assert (np.abs(ref_times - cache.timestamps[dm.train_set.indices]) >= 1.0).all()


def _face_frames(n: int, blur_mouth: float = 0.0, noise: float = 0.0):
    rng = np.random.default_rng(1)
    texture = rng.integers(20, 200, (120, 160, 3), dtype=np.uint8)
    lms = np.zeros((68, 2))
    lms[ix.LIPS] = np.stack([np.linspace(60, 100, 20), 60 + 5 * np.sin(np.arange(20))], 1)
    frames = []
    for t in range(n):
        frame = texture + np.uint8(2 * t)  # the footage brightens by 2 levels a frame
        if blur_mouth:
            rows, cols = mouth_box(lms, frame.shape)
            frame = frame.copy()
            frame[rows, cols] = cv2.GaussianBlur(frame[rows, cols], (0, 0), blur_mouth)
        if noise:
            frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames, lms


@pytest.mark.parametrize("case", ["same", "blurred", "noisy"])
def test_mouth_measures_see_blur_and_flicker(case):
    truth, lms = _face_frames(6)
    out, _ = _face_frames(6, blur_mouth=3.0 if case == "blurred" else 0.0, noise=20.0 if case == "noisy" else 0.0)
    meter = MouthMeter(n_closeups=3)
    for a, b in zip(out, truth, strict=True):
        meter.add(a, b, lms)
    result = meter.summary()
    assert result["mouth_frames"] == 6
    if case == "same":
        assert result["mouth_psnr_db"] > 90 and result["sharpness_ratio"] == pytest.approx(1.0)
        assert result["flicker_ratio"] == pytest.approx(1.0)
    elif case == "blurred":
        assert result["sharpness_ratio"] < 0.2 and result["mouth_ssim"] < 0.5
    else:
        assert result["flicker_ratio"] > 1.2
    strip = meter.strip()
    assert strip.shape == (192, 3 * 96, 3)
