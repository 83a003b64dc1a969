"""Prepare on the real clips in ../shared/data (skipped when they are absent)."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.cache import SpeakerCache
from landmarks.prepare import prepare

pytestmark = pytest.mark.footage


def prepared(compose_prepare, tmp_path, video, audio=None) -> SpeakerCache:
    overrides = {"speaker": "real", "video": video, "paths.cache_dir": tmp_path}
    if audio is not None:
        overrides["audio"] = audio
    return SpeakerCache(prepare(compose_prepare(**overrides), progress=False))


def check_tracking(cache: SpeakerCache, n_frames: int, fps: float, frame_size: tuple[int, int]) -> None:
    assert cache.n_frames == n_frames and cache.fps == pytest.approx(fps, rel=1e-3)
    detected = np.load(cache.root / "landmarks.npz")["detected"]
    assert detected.mean() >= 0.99
    # Every landmark lies inside the frame and inside its frame's face crop box.
    lm, boxes = cache.landmarks, cache.crop_boxes
    assert (lm >= 0).all() and (lm[..., 0] < frame_size[0]).all() and (lm[..., 1] < frame_size[1]).all()
    half = boxes[:, None, 2:3] / 2
    assert (np.abs(lm - boxes[:, None, :2]) < half).all()
    # The face is the right size: the crop box side is ~1.7x the landmark extent.
    extent = (lm.max(1) - lm.min(1)).max(1)
    assert np.median(boxes[:, 2] / extent) == pytest.approx(1.7, rel=0.1)
    # Speech moves the mouth: the inner-lip gap varies over the clip.
    assert cache.report["mouth_opening"]["p95"] - cache.report["mouth_opening"]["p5"] > 0.1
    assert cache.crops.shape == (n_frames, 128, 128, 3) and cache.face_map(n_frames // 2).any()


def test_lieu_256px_25fps(compose_prepare, shared_clip, tmp_path):
    cache = prepared(compose_prepare, tmp_path, shared_clip("lieu_train.mp4"))
    check_tracking(cache, 1200, 25.0, (256, 256))
    assert len(cache.audio) == pytest.approx(48.0 * 16_000, abs=160)
    # lieu's audio lags its video; the phones find it and prepare shifts the audio
    record = cache.report["av_offset_phones"]
    assert -160 <= record["estimate_ms"] <= -60 and record["applied_ms"] == record["estimate_ms"], record


def test_obama_weekly_720p_30fps(compose_prepare, shared_clip, tmp_path):
    cache = prepared(compose_prepare, tmp_path, shared_clip("obama_weekly_train.mp4"))
    check_tracking(cache, 795, 30.0, (1280, 720))
    # A medium shot: the face is a small part of the frame (crop ~ 250 px of 1280).
    assert 150 < np.median(cache.crop_boxes[:, 2]) < 400
    check_phones_and_sync(cache)


def check_phones_and_sync(cache: SpeakerCache) -> None:
    """Phones at a speech-like rate; the offset estimator and the sync score see sync, and see a shift."""
    from landmarks.sync import phone_offset, relative_opening
    from pipeline.sync_score import sync_score

    assert 8 < cache.phones.rate() < 16
    record = cache.report["av_offset_phones"]
    assert -120 <= record["estimate_ms"] <= 60 and record["confidence"] > 0.2
    raw = np.load(cache.root / "landmarks.npz")["raw_landmarks"]
    opening, times = relative_opening(raw), cache.timestamps
    # an artificial 200 ms delay of the sound is found as such
    shifted_ms, _ = phone_offset(cache.phones.shifted(0.2), relative_opening(cache.landmarks), times)
    assert abs(shifted_ms - (-200)) <= 40, shifted_ms
    # the real clip scores high at lag 0 and clearly lower with its audio 5 frames off
    ok = sync_score(cache.phones, opening, times, cache.fps)
    off = sync_score(cache.phones.shifted(5 / cache.fps), opening, times, cache.fps)
    assert abs(ok["best_lag_ms"]) <= 100 and ok["openness_r"] > 0.25
    assert off["openness_r"] < ok["openness_r"] - 0.15 and off["bilabial_closed"] < ok["bilabial_closed"]


def test_obama_clip2_silent_video_with_separate_wav(compose_prepare, shared_clip, tmp_path):
    video, audio = shared_clip("obama_clip2_silent.mp4"), shared_clip("obama_clip2.wav")
    cache = prepared(compose_prepare, tmp_path, video, audio)
    check_tracking(cache, 902, 30.0, (256, 256))
    assert cache.meta["source"]["audio_duration_s"] == pytest.approx(30.0, abs=0.05)
    assert len(cache.audio) == round(902 / 30 * 16_000)
    assert np.abs(cache.audio).max() > 0.05  # speech, not the padding
