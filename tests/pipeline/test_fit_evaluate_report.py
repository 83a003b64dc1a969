"""fit re-runs skip finished stages; evaluate and report on the synthetic sample; fit on real footage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from landmarks.errors import LipsyncError
from pipeline import metrics as m
from pipeline.bundle import SpeakerBundle


def test_refit_reuses_every_stage(sample_bundle, sample_dir, fit_tiny, capsys):
    cache_dir = sample_bundle.parent / "cache"
    fit_tiny(sample_dir / "sample_anchor.mp4", sample_bundle, cache_dir, "sample")
    out = capsys.readouterr().out
    assert "reusing speaker cache" in out and "audio2mouth: reusing" in out and "renderer: reusing" in out


def test_evaluate_writes_all_metrics(sample_bundle, sample_dir, tmp_path, compose_app):
    from pipeline.evaluate import evaluate

    cfg = compose_app("evaluate", bundle=sample_bundle, clip=sample_dir / "sample_anchor.mp4",
                      out=tmp_path / "eval.json", clip_start_s=8.0,
                      **{"paths.cache_dir": sample_bundle.parent / "cache"})
    report = evaluate(cfg)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["frames"] == 100 and saved["frames_compared"] > 90
    for key in ("lmd_px", "psnr_db", "ssim", "av_offset_ms", "jitter"):
        assert math.isfinite(report[key]), key
    assert 10 < report["psnr_db"] < 60 and 0 < report["ssim"] <= 1
    assert (tmp_path / "eval.mp4").exists()
    for bar in ("static_mean_mouth", "train_mean_mouth"):  # both bars, and the share of each the output clears
        assert report[f"lmd_{bar}_px"] > 0
        assert report[f"lmd_below_{bar}"] == pytest.approx(1 - report["lmd_px"] / report[f"lmd_{bar}_px"])
        per_frame = report["series"][f"lmd_{bar}_px"]  # per compared frame, for analyses such as pauses vs speech
        assert len(per_frame) == report["frames_compared"]
        assert np.mean(per_frame) == pytest.approx(report[f"lmd_{bar}_px"], abs=1e-3)


def test_the_train_mean_bar_is_the_train_mean_speech_shape_turned_with_each_head(sample_bundle, sample_dir,
                                                                                 compose_app):
    """lipsync-evaluate's second LMD bar, mapped back into each frame's canonical space, is the training
    footage's mean speech shape plus that frame's own pose part: it encodes to the train-mean coefficients."""
    from landmarks.alignment import apply_transform
    from pipeline.evaluate import train_mean_mouth
    from pipeline.template import prepare_with_bundle_settings

    bundle = SpeakerBundle.open(sample_bundle)
    cfg = compose_app("evaluate", bundle=sample_bundle, clip=sample_dir / "sample_anchor.mp4", out="unused.json",
                      **{"paths.cache_dir": sample_bundle.parent / "cache"})
    cache = prepare_with_bundle_settings(cfg, bundle.manifest["face_map"], "sample_eval",
                                         sample_dir / "sample_anchor.mp4")
    order = np.arange(200, 260)
    speaker = bundle.audio2mouth.speaker
    canonical_bar = apply_transform(cache.transforms[order], train_mean_mouth(bundle, cache, order))
    lower = canonical_bar[:, speaker.lower_face_indices]
    own_pose = speaker.pose.pose_part(apply_transform(cache.transforms[order], cache.landmarks[order]))
    coeffs = speaker.pca.encode(lower - own_pose)
    np.testing.assert_allclose(coeffs, np.repeat(speaker.target_norm.mean[None], len(order), 0), atol=1e-3)
    # and the mouth is not one frozen drawing: it turns with each frame's head
    assert np.ptp(lower[:, :, 0], axis=0).max() > 1e-3


def test_evaluate_driven_by_the_clips_own_landmarks_and_by_the_train_mean(sample_bundle, sample_dir, tmp_path,
                                                                         compose_app):
    """drive=landmarks renders the tracked mouth itself: the ceiling audio2mouth is measured against;
    drive=train_mean renders the mouth of a model that ignores the audio: the floor."""
    from landmarks.errors import LipsyncError
    from pipeline.evaluate import evaluate

    common = {"bundle": sample_bundle, "clip": sample_dir / "sample_anchor.mp4", "clip_start_s": 8.0,
              "paths.cache_dir": sample_bundle.parent / "cache"}
    with pytest.raises(LipsyncError, match="drive must be one of audio, landmarks, train_mean"):
        evaluate(compose_app("evaluate", out=tmp_path / "bad.json", drive="lips", **common))
    assert not (tmp_path / "bad.json").exists()
    report = evaluate(compose_app("evaluate", out=tmp_path / "ceiling.json", drive="landmarks", **common))
    assert report["drive"] == "landmarks" and report["frames"] == 100
    # rendered from its own mouth track, the output's mouth must open and close with the clip's (the sample's
    # tiny renderer scored r 0.75 here; its shapes are too soft for a meaningful LMD)
    assert report["opening_correlation"] > 0.5, report["opening_correlation"]
    floor = evaluate(compose_app("evaluate", out=tmp_path / "floor.json", drive="train_mean", detail_transfer=0,
                                 detail_neighbours=2, **common))
    assert floor["drive"] == "train_mean" and floor["frames"] == 100
    # the renderer's fine-detail settings, as given in place of the bundle's, are in the report
    assert (floor["detail_transfer"], floor["detail_neighbours"]) == (0.0, 2)
    # a mouth that only turns with the head follows the clip's opening less well than its own mouth track
    # (the sample's tiny renderer: r 0.72 against 0.58 here; the sample's head moves with its speech)
    assert floor["opening_correlation"] < report["opening_correlation"] - 0.05


def test_report_has_every_section(sample_bundle, tmp_path, compose_app):
    from pipeline.report import build_report

    html = build_report(compose_app("report", bundle=sample_bundle, out=tmp_path / "r", strip_frames=2))
    text = html.read_text()
    assert "Data sufficiency" in text and "<table>" in text and "frames.png" in text
    from pipeline.bundle import SpeakerBundle

    assert f"mouth rendered at {SpeakerBundle.open(sample_bundle).render_size} px" in text
    assert (tmp_path / "r" / "frames.png").exists() and (tmp_path / "r" / "report.md").exists()


def test_report_of_a_video_alone_is_accepted(tmp_path, compose_app):
    from pipeline.report import build_report

    # video= alone is a report (the sync score of a speak output), so the check that comes is the file's
    with pytest.raises(LipsyncError, match="video not found"):
        build_report(compose_app("report", video=tmp_path / "missing.mp4", out=tmp_path / "r"))


def test_metric_definitions_on_known_signals():
    t = np.arange(200)
    energy = np.sin(2 * np.pi * t / 40.0)
    # The mouth follows the sound 3 frames late at 25 fps: +120 ms.
    assert m.av_offset_ms(np.roll(energy, 3), energy, 25.0) == pytest.approx(120.0)
    assert m.jitter(np.linspace(0, 1, 50)) == pytest.approx(0.0, abs=1e-12)
    shapes = np.random.default_rng(0).uniform(0, 100, (5, 68, 2))
    assert m.lmd(shapes, shapes + [7.0, -3.0]).max() == pytest.approx(0.0, abs=1e-9)  # shift-free
    quiet = np.array([-80.0, -80.0, -10.0])
    assert m.closed_when_silent(np.array([0.0, 0.5, 0.5]), quiet) == 0.5


@pytest.mark.footage
@pytest.mark.slow
def test_fit_speak_evaluate_on_real_footage(shared_clip, fit_tiny, tmp_path, compose_app):
    from pipeline.evaluate import evaluate
    from pipeline.speak import speak

    video = shared_clip("lieu_train.mp4")
    bundle_dir = fit_tiny(video, tmp_path / "lieu", tmp_path / "cache", "lieu")
    bundle = SpeakerBundle.open(bundle_dir)
    audio = bundle.template.audio[: 16_000 * 2]
    result = speak(bundle, audio, tmp_path / "lieu.mp4")
    assert result.n_frames == 50
    cfg = compose_app("evaluate", bundle=bundle_dir, clip=video, out=tmp_path / "eval.json", clip_start_s=44.0,
                      **{"paths.cache_dir": tmp_path / "cache"})
    report = evaluate(cfg)
    assert report["frames"] == 100 and math.isfinite(report["lmd_px"])


def test_interrupted_renderer_training_resumes_from_its_last_checkpoint(sample_bundle, sample_dir, fit_tiny,
                                                                         tmp_path, capsys):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(sample_bundle, bundle)
    assert (bundle / "work" / "renderer" / "checkpoints" / "last.ckpt").exists()
    (bundle / "work" / "renderer" / "metrics.json").unlink()  # as if fit was killed during this stage
    fit_tiny(sample_dir / "sample_anchor.mp4", bundle, sample_bundle.parent / "cache", "sample")
    out = capsys.readouterr().out
    assert "audio2mouth: reusing" in out and "renderer: resuming from" in out
    assert SpeakerBundle.open(bundle).renderer.crop_size == 128


def test_interrupted_audio2mouth_training_resumes(sample_bundle, sample_dir, fit_tiny, tmp_path, capsys):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(sample_bundle, bundle)
    assert (bundle / "work" / "audio2mouth" / "checkpoints" / "last.ckpt").exists()
    (bundle / "work" / "audio2mouth" / "results.json").unlink()  # killed during this stage
    fit_tiny(sample_dir / "sample_anchor.mp4", bundle, sample_bundle.parent / "cache", "sample")
    assert "audio2mouth: resuming from" in capsys.readouterr().out
    assert SpeakerBundle.open(bundle).audio2mouth.speaker.pca.n_components >= 1
