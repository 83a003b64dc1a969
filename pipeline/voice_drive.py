"""evaluate ``drive=voice``: someone else's recorded voice drives the anchor, scored against that person's mouth.

Studios drive an anchor with voices that are not the anchor's: a reporter's, a guest's,
another anchor's. Whether the rendered mouth then moves with the words can be measured
against the face that spoke them: the voice clip's own tracked mouth. The anchor's face
differs from the speaker's, so only scale-free figures compare, all on the relative opening
(inner-lip gap 62-66 / mouth width 48-54, ``landmarks.sync.relative_opening``):

- ``opening_correlation``: Pearson r of the rendered opening with the speaker's, at the
  speaker's frame times (the output is interpolated there), lag 0;
- ``best_lag_ms`` / ``best_lag_r``: the lag within +-``MAX_LAG_S`` (positive: the rendered
  mouth moves after the speaker's) that maximizes r, and that r;
- ``opening_std_ratio``: how much the rendered mouth moves against the speaker's (people
  differ here, so it is a guide, not a target);
- ``sync`` / ``sync_ground_truth``: the phone-based sync score (``pipeline.sync_score``) of the
  rendered mouth and of the speaker's own, against the phones of the voice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError
from landmarks.media import probe_video
from landmarks.sync import relative_opening
from pipeline.sync_score import sync_score, video_mouth_opening

MAX_LAG_S = 0.2


def lagged_correlation(out_open: np.ndarray, out_times: np.ndarray, true_open: np.ndarray,
                       true_times: np.ndarray, lag_s: float) -> float:
    """r of the output opening at ``true_times + lag_s`` (interpolated) with ``true_open`` (all (T,), s)."""
    moved = np.interp(true_times + lag_s, out_times, out_open)
    if moved.std() < 1e-12 or true_open.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(moved, true_open)[0, 1])


def compare_voice(rendered: Path, cache: SpeakerCache, first: int, last: int, phones=None) -> dict:
    """Scores of ``rendered`` (the anchor, driven by frames [first, last]'s audio of ``cache``'s clip)
    against that clip's own tracked mouth; ``phones`` timed from frame ``first``, or None."""
    out_open, out_times = video_mouth_opening(rendered)
    found = np.isfinite(out_open)
    if found.sum() < 3:
        raise LipsyncError(f"no face found in the rendered video {rendered}")
    raw = np.load(cache.root / "landmarks.npz")["raw_landmarks"][first : last + 1]
    true_times = cache.timestamps[first : last + 1] - cache.timestamps[first]
    ok = np.isfinite(raw).all((1, 2)) & cache.valid[first : last + 1]
    ok &= true_times <= out_times[found][-1]  # the output ends with the audio
    if ok.sum() < 3:
        raise LipsyncError("the voice clip's face was not tracked in the evaluated segment")
    true_open, true_times = relative_opening(raw[ok]).astype(np.float64), true_times[ok]
    out_at_true = np.interp(true_times, out_times[found], out_open[found])
    fps = cache.fps
    steps = round(MAX_LAG_S * fps)
    lags = np.arange(-steps, steps + 1) / fps  # lags[steps] == 0
    rs = np.array([lagged_correlation(out_open[found], out_times[found], true_open, true_times, lag)
                   for lag in lags])
    best = int(np.nanargmax(rs))
    report = {
        "frames": int(found.size), "frames_compared": int(ok.sum()),
        "opening_correlation": float(rs[steps]),
        "best_lag_ms": float(round(lags[best] * 1000)), "best_lag_r": float(rs[best]),
        "opening_std_ratio": float(out_at_true.std() / max(true_open.std(), 1e-9)),
    }
    if phones is not None:
        report["sync"] = sync_score(phones, out_open, out_times, probe_video(rendered).fps)
        report["sync_ground_truth"] = sync_score(phones, true_open, true_times, fps)
    report["series"] = {"opening": out_at_true.round(4).tolist(), "opening_true": true_open.round(4).tolist(),
                        "times_s": true_times.round(4).tolist()}
    return report
