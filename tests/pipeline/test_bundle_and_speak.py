"""fit -> bundle -> speak on the synthetic sample: streams, frame counts, durations, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest

from audio2mouth.silence import SilenceGate
from landmarks.errors import LipsyncError
from landmarks.media import load_audio
from landmarks.writer import VideoWriter
from pipeline.bundle import SpeakerBundle
from pipeline.speak import predict_coeffs, run, speak


def streams(path):
    with av.open(str(path)) as c:
        video, audio = c.streams.video, c.streams.audio
        assert len(video) == 1 and len(audio) == 1
        assert video[0].codec_context.name == "h264" and audio[0].codec_context.name == "aac"
        n = sum(1 for _ in c.decode(video=0))
        return n, float(video[0].average_rate)


def tone_file(path, seconds: float, rate: int = 44_100, stereo: bool = True):
    """A speech-band tone burst pattern written with the project's writer's encoder settings (AAC)."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    with VideoWriter(path, 25, signal) as writer:  # audio-bearing mp4 ("audio track of any video")
        for _ in range(int(np.ceil(seconds * 25))):
            writer.write(np.zeros((16, 16, 3), np.uint8))
    return path


def test_bundle_round_trip(sample_bundle, tmp_path):
    bundle = SpeakerBundle.open(sample_bundle)
    assert bundle.speaker == "sample" and bundle.fps == 25 and bundle.crop_size == 128
    assert bundle.template.n_frames == 300 and bundle.template_video.exists()
    assert bundle.renderer.crop_size == 128
    k = bundle.template.pca.n_components
    assert bundle.audio2mouth.speaker.pca.n_components == k
    copy = tmp_path / "copy"
    shutil.copytree(sample_bundle, copy, ignore=shutil.ignore_patterns("work"))  # work/ is not needed
    assert SpeakerBundle.open(copy).audio2mouth.speaker.pca.n_components == k
    # detail settings given in place of the renderer's own are checked when the bundle opens, before any work
    with pytest.raises(LipsyncError, match="detail_transfer must be a number"):
        SpeakerBundle.open(copy, detail_transfer="sharp")
    with pytest.raises(LipsyncError, match="detail_neighbours must be a whole number"):
        SpeakerBundle.open(copy, detail_neighbours=0)
    opened = SpeakerBundle.open(copy, detail_transfer="0", detail_neighbours="3")
    assert (opened.renderer.detail_transfer, opened.renderer.detail_neighbours) == (0.0, 3)
    manifest = json.loads((copy / "bundle.json").read_text())
    manifest["format_version"] = 99
    (copy / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(LipsyncError, match="format version 99"):
        SpeakerBundle.open(copy)
    shutil.rmtree(copy / "renderer")
    with pytest.raises(LipsyncError):
        SpeakerBundle.open(copy)


def test_speak_audio_gives_h264_aac_with_the_audio_duration(sample_bundle, tmp_path):
    source = tone_file(tmp_path / "speech.mp4", 2.3)
    out = tmp_path / "out.mp4"
    audio = load_audio(source)
    result = speak(SpeakerBundle.open(sample_bundle), audio, out)
    n, fps = streams(out)
    assert n == result.n_frames == int(np.ceil(len(audio) / 16_000 * 25 - 1e-6))
    assert abs(n / fps - len(audio) / 16_000) <= 1 / fps
    assert abs(len(load_audio(out)) - len(audio)) <= 16_000 / fps
    assert set(result.timings) >= {"audio2mouth", "face_maps", "render", "paste", "encode", "decode"}


def test_audio_longer_than_the_template_plays_it_back_and_forth(sample_bundle, tmp_path):
    audio = np.zeros(int(3.0 * 16_000), np.float32)
    out = tmp_path / "long.mp4"
    result = speak(SpeakerBundle.open(sample_bundle), audio, out, start_s=2.0, duration_s=1.0)
    assert streams(out)[0] == result.n_frames == 75


def test_silence_gives_a_closed_still_mouth(sample_bundle):
    bundle = SpeakerBundle.open(sample_bundle)
    coeffs = predict_coeffs(bundle, np.zeros(16_000 * 2, np.float32), 25.0, SilenceGate())
    assert coeffs.shape[0] == 50
    assert coeffs.std(0).max() < 1e-4  # still
    np.testing.assert_allclose(coeffs[0], bundle.audio2mouth.speaker.rest_coeffs, atol=1e-4)  # rest shape


def test_chunked_prediction_matches_whole_prediction(sample_bundle, sample_dir):
    bundle = SpeakerBundle.open(sample_bundle)
    audio = np.load(sample_dir / "sample_anchor_truth.npz")["audio"]
    # the gate judges pauses against the whole audio's loud speech in both (the chunks are gated afterwards)
    whole = predict_coeffs(bundle, audio, 25.0, SilenceGate(), chunk_s=100.0)
    chunked = predict_coeffs(bundle, audio, 25.0, SilenceGate(), chunk_s=3.0, context_s=2.0)
    assert whole.shape == chunked.shape
    np.testing.assert_allclose(chunked, whole, atol=1e-3)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup installs it)")
def test_speak_text(sample_bundle, tmp_path, compose_app):
    out = tmp_path / "text.mp4"
    cfg = compose_app("speak", bundle=sample_bundle, text="'Good evening.'", out=out)
    result = run(cfg)
    n, fps = streams(out)
    assert n == result.n_frames and 0.5 < result.audio_s < 5


def test_bad_inputs_are_refused_before_any_work(sample_bundle, tmp_path, compose_app):
    wav = tone_file(tmp_path / "s.mp4", 1.0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        (dict(audio=wav, out=blocker / "x.mp4"), "cannot write"),
        (dict(audio=wav, out=tmp_path / "x.avi"), "must be an .mp4"),
        (dict(audio=wav, text="'hi'", out=tmp_path / "x.mp4"), "exactly one"),
        (dict(out=tmp_path / "x.mp4"), "exactly one"),
        (dict(text="'\U0001F600 news'", out=tmp_path / "x.mp4"), "cannot say"),
        (dict(audio=tmp_path / "missing.wav", out=tmp_path / "x.mp4"), "not found"),
    ]
    for overrides, message in cases:
        cfg = compose_app("speak", bundle=sample_bundle, **overrides)
        with pytest.raises(SystemExit) as exit_info:
            run(cfg)
        assert exit_info.value.code == 2, message
    assert not list(tmp_path.glob("*.mp4*")) or sorted(p.name for p in tmp_path.glob("*.mp4")) == ["s.mp4"]


def test_loading_a_bundle_for_speak_does_not_import_the_training_stack(sample_bundle):
    """speak needs the networks, not PyTorch Lightning (its import chain cost 4 s per speak run)."""
    script = (
        "import sys\n"
        "from pipeline.bundle import SpeakerBundle\n"
        f"bundle = SpeakerBundle.open({str(sample_bundle)!r})\n"
        "bundle.audio2mouth, bundle.renderer\n"
        "print(sorted(m for m in ('pytorch_lightning', 'lightning_fabric', 'torchmetrics') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_command_line_error_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.speak", f"bundle={tmp_path}", "text=hello",
         f"out={tmp_path / 'o.mp4'}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: not a speaker bundle")
    assert "Traceback" not in result.stderr


def test_speak_with_another_template_clip_without_audio(sample_bundle, sample_dir, tmp_path, compose_app):
    from landmarks.media import iter_frames

    template = tmp_path / "take2.mp4"
    with VideoWriter(template, 25, None) as writer:  # a silent take: pose and background only
        for i, (_, rgb) in enumerate(iter_frames(sample_dir / "sample_anchor.mp4")):
            if i >= 60:
                break
            writer.write(rgb)
    out = tmp_path / "templated.mp4"
    cfg = compose_app("speak", bundle=sample_bundle, audio=tone_file(tmp_path / "s.mp4", 1.5), out=out,
                      template=template, **{"paths.cache_dir": tmp_path / "cache"})
    result = run(cfg)
    assert streams(out)[0] == result.n_frames == 38
