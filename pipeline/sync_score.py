"""Lip sync without ground truth: does the rendered mouth do what the phones say?

Works on any output, whatever the voice or the text, because it needs only the
video and the timed phones of its audio (aligned to the words when they are
known, recognized otherwise). Definitions, on the relative mouth opening
(inner-lip gap 62-66 / mouth width 48-54) of landmarks detected on the video:

- bilabial closure: share of P/B/M phones during which the mouth closes, i.e.
  whose smallest relative opening within the phone (+-1 frame) is below
  ``CLOSED_BELOW``. Lips must touch for P/B/M in every voice and language.
- openness correlation: Pearson r of the opening with the phones' expected
  openness (``landmarks.visemes.OPENNESS``) at the same instant, and the lag
  (ms, positive: mouth after sound) within +-0.5 s that maximizes it, with
  its r. A synced video peaks near 0 (lips lead the sound by up to ~100 ms).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from landmarks.detect import DetectParams, FaceTracker
from landmarks.media import iter_frames, probe_video
from landmarks.sync import phone_offset, relative_opening

CLOSED_BELOW = 0.06  # relative opening under which the lips count as touching (dlib's inner-lip gap)


def video_mouth_opening(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """(opening (T,), frame times (T,) s) of the face tracked through ``video``; NaN where none is found."""
    info = probe_video(video)
    tracker = FaceTracker(DetectParams(), info.fps)
    opening, times = [], []
    for t, rgb in iter_frames(video):
        points = tracker.update(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        opening.append(np.nan if points is None else float(relative_opening(points[None])[0]))
        times.append(t)
    return np.asarray(opening, np.float64), np.asarray(times, np.float64)


def bilabial_closure(phones, opening: np.ndarray, times: np.ndarray, fps: float,
                     closed_below: float = CLOSED_BELOW) -> tuple[float | None, int]:
    """(share of P/B/M phones with a closed mouth, number of P/B/M phones judged); None without any."""
    from landmarks.visemes import bilabial_intervals

    closed = []
    for start, end in bilabial_intervals(phones):
        near = (times >= start - 1 / fps) & (times <= end + 1 / fps) & np.isfinite(opening)
        if near.any():
            closed.append(opening[near].min() < closed_below)
    return (float(np.mean(closed)) if closed else None), len(closed)


def sync_score(phones, opening: np.ndarray, times: np.ndarray, fps: float) -> dict:
    """Every score above for one mouth-opening track (T,) at ``times`` (T,) s, and its phones."""
    from landmarks.visemes import openness

    ok = np.isfinite(opening)
    share, count = bilabial_closure(phones, opening, times, fps)
    expected = openness(phones, times[ok]).astype(np.float64)
    r0 = float(np.corrcoef(opening[ok], expected)[0, 1]) if ok.sum() > 2 and expected.std() > 0 else None
    lag_ms, best = phone_offset(phones, opening[ok], times[ok]) if ok.sum() > 2 else (None, None)
    return {"bilabial_closed": share, "bilabials": count, "openness_r": r0, "best_lag_ms": lag_ms,
            "best_lag_r": best, "frames_with_face": float(ok.mean()) if len(ok) else 0.0}


def score_video(video: Path, phones) -> dict:
    """:func:`sync_score` of a rendered mp4 (landmarks detected on it) against its audio's phones."""
    opening, times = video_mouth_opening(video)
    return sync_score(phones, opening, times, probe_video(video).fps)
