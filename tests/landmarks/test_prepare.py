"""Prepare end to end on the synthetic anchor, and its bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from landmarks.cache import FORMAT_VERSION, SpeakerCache
from landmarks.errors import LipsyncError
from landmarks.indices import mouth_opening
from landmarks.prepare import prepare
from landmarks.writer import VideoWriter


def test_sample_cache_matches_the_known_answer(sample_cache):
    root, truth_path = sample_cache
    cache = SpeakerCache(root)
    truth = np.load(truth_path)
    assert cache.n_frames == len(truth["opening"]) == 300
    assert cache.valid.all() and cache.fps == 25
    # dlib's landmarks land within about a pixel of the warp's ground truth.
    error = np.linalg.norm(cache.landmarks - truth["landmarks"], axis=-1)
    assert error.mean() < 2.0
    # The mouth opening seen by the pipeline follows the one the audio dictated.
    assert np.corrcoef(mouth_opening(cache.landmarks), truth["opening"])[0, 1] > 0.9
    assert abs(len(cache.audio) / 16_000 - 12.0) < 0.05
    k = cache.pca.n_components
    assert cache.coeffs.shape == (300, k) and 1 <= k <= 20
    # speech part (PCA) + pose part = the lower face
    np.testing.assert_allclose(cache.pca.decode(cache.coeffs) + cache.pose_offsets, cache.lower_face_shapes,
                               atol=0.05)
    assert cache.crops.shape == (300, 128, 128, 3)
    face_map = cache.face_map(10)
    assert face_map.shape == (128, 128, 3) and face_map.any()
    # Landmarks sit inside the crop, and the crop shows the face (not a border smear).
    inside = cache.landmarks_in_crop(10)
    assert (inside > 0).all() and (inside < 128).all()
    meta = json.loads((root / "meta.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["face_map"]["size"] == 128
    assert cache.report["detection_rate"] == 1.0
    # The sample's mouth follows its audio with no delay, and the report sees that.
    assert abs(cache.report["av_offset_ms"]) <= 40 and cache.report["av_offset_peak_correlation"] > 0.5


def test_rerun_reuses_the_cache(sample_cache, capsys, compose_prepare):
    root, truth_path = sample_cache
    cfg = compose_prepare(speaker="sample", video=truth_path.parent / "sample_anchor.mp4",
                          **{"paths.cache_dir": root.parent})
    mtime = (root / "meta.json").stat().st_mtime_ns
    assert prepare(cfg, progress=False) == root
    assert "reusing" in capsys.readouterr().out
    assert (root / "meta.json").stat().st_mtime_ns == mtime


def faceless_video(path, seconds=1.0, audio=True):
    with VideoWriter(path, 25, np.zeros(int(16_000 * seconds), np.float32) if audio else None) as w:
        for i in range(int(25 * seconds)):
            w.write(np.full((96, 96, 3), 40 + i, np.uint8))
    return path


def test_bad_inputs_raise_clear_errors_and_leave_no_cache(tmp_path, sample_dir, compose_prepare):
    cache_dir = tmp_path / "cache"
    video = sample_dir / "sample_anchor.mp4"
    cases = [
        (dict(video=tmp_path / "missing.mp4"), "file not found"),
        (dict(video=sample_dir / "sample_anchor_truth.npz"), "not a readable media file"),
        (dict(video=faceless_video(tmp_path / "blank.mp4")), "no face found"),
        (dict(video=faceless_video(tmp_path / "mute.mp4", audio=False)), "no audio track"),
        (dict(video=video, audio=tmp_path / "missing.wav"), "file not found"),
    ]
    for overrides, message in cases:
        cfg = compose_prepare(speaker="bad", **{"paths.cache_dir": cache_dir}, **overrides)
        with pytest.raises(LipsyncError, match=message):
            prepare(cfg, progress=False)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; permissions cannot be tested")
def test_unwritable_cache_dir(tmp_path, sample_dir, compose_prepare):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cfg = compose_prepare(speaker="x", video=sample_dir / "sample_anchor.mp4", **{"paths.cache_dir": locked / "c"})
    with pytest.raises(LipsyncError, match="cannot write"):
        prepare(cfg, progress=False)


def test_cache_dir_that_is_a_file_is_refused(tmp_path, sample_dir, compose_prepare):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = compose_prepare(speaker="x", video=sample_dir / "sample_anchor.mp4", **{"paths.cache_dir": blocker})
    with pytest.raises(LipsyncError, match="cannot write"):
        prepare(cfg, progress=False)


def test_command_line_prints_one_line_and_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "landmarks.prepare", "speaker=x", f"video={tmp_path / 'nope.mp4'}",
         f"paths.cache_dir={tmp_path / 'c'}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: file not found")
    assert "Traceback" not in result.stderr
