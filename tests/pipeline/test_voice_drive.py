"""evaluate drive=voice: another person's voice drives the anchor, scored against that person's mouth."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.media import iter_frames
from landmarks.writer import write_video


def test_lagged_correlation_finds_a_known_delay():
    from pipeline.voice_drive import lagged_correlation

    times = np.arange(200) / 25.0
    truth = np.sin(2 * np.pi * times / 1.3) + 0.3 * np.sin(2 * np.pi * times / 0.37)
    late = np.interp(times - 0.08, times, truth)  # the output moves 80 ms after the truth
    lags = np.arange(-5, 6) / 25.0
    rs = [lagged_correlation(late, times, truth, times, lag) for lag in lags]
    assert lags[int(np.argmax(rs))] == pytest.approx(0.08)
    assert max(rs) > 0.999 and rs[5] < max(rs) - 0.02


def test_a_mouth_two_frames_late_scores_high_at_its_lag(sample_bundle, sample_dir, tmp_path):
    """The voice clip's own frames, delayed by two frames, stand in for a rendered anchor that follows the
    voice two frames late: the score finds that lag, with r near 1 there and lower at lag 0."""
    from landmarks.cache import SpeakerCache
    from pipeline.voice_drive import compare_voice

    cache = SpeakerCache(next((sample_bundle.parent / "cache").glob("sample-*")))
    frames = [rgb for _, rgb in iter_frames(sample_dir / "sample_anchor.mp4")][:150]
    late = tmp_path / "late.mp4"
    write_video(late, [frames[0], frames[0], *frames[:-2]], cache.fps, None)
    report = compare_voice(late, cache, 0, 149)
    assert report["best_lag_ms"] == pytest.approx(2000 / cache.fps, abs=1)
    assert report["best_lag_r"] > 0.85, report  # 0.93 here (dlib on the re-encoded frames); 0.64 at lag 0
    assert report["opening_correlation"] < report["best_lag_r"] - 0.05
    assert 0.8 < report["opening_std_ratio"] < 1.25


def test_evaluate_drives_the_anchor_with_another_voice(sample_bundle, tmp_path, compose_app):
    """The bundle's own template speaks a different synthetic speaker's voice; the report scores the
    rendered mouth against that speaker's and names what it compared."""
    from landmarks.synthetic import make_sample
    from pipeline.evaluate import evaluate

    other = make_sample(tmp_path / "other", duration_s=6.0, seed=7)
    report = evaluate(compose_app("evaluate", bundle=sample_bundle, clip=other, drive="voice",
                                  out=tmp_path / "voice.json", **{"paths.cache_dir": sample_bundle.parent / "cache"}))
    assert report["drive"] == "voice"
    assert report["frames_compared"] > 100 and report["frames"] >= report["frames_compared"]
    assert -1 <= report["opening_correlation"] <= 1 and "sync" in report and "sync_ground_truth" in report
    assert (tmp_path / "voice.json").exists() and (tmp_path / "voice.mp4").exists()
    # the report names it for what it is and shows the voice's figures, not the held-out clip's n/a rows
    from pipeline.report import build_report

    build_report(compose_app("report", evaluation=tmp_path / "voice.json", out=tmp_path / "r"))
    text = (tmp_path / "r" / "report.md").read_text()
    assert "Another person's voice driving the anchor" in text and "Evaluation on a held-out clip" not in text
    assert f"{report['opening_correlation']:.4g}" in text and "LMD" not in text
    assert "| sync score | output | the speaker |" in text
