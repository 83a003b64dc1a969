"""Audio from any format, rate and layout; streamed frames with timestamps; writer round trip."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from landmarks.errors import LipsyncError
from landmarks.media import iter_frames, load_audio, probe_video
from landmarks.writer import VideoWriter


def write_audio(path, codec: str, rate: int, layout: str, seconds: float = 1.0) -> np.ndarray:
    """Encode a 440 Hz tone with PyAV; returns the mono 16 kHz reference."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    channels = 2 if layout == "stereo" else 1
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = layout
        fmt = stream.codec_context.codec.audio_formats[0].name  # e.g. "fltp", "s16", "flt"
        planar = fmt.endswith("p")
        samples = (tone * 32767).astype(np.int16) if fmt.startswith("s16") else tone
        # Planar formats take (channels, n); packed ones take (1, n * channels) interleaved.
        data = np.tile(samples, (channels, 1)) if planar else np.repeat(samples, channels)[None, :]
        step = 1 if planar else channels
        frame_len = 1024
        for start in range(0, len(tone), frame_len):
            chunk = np.ascontiguousarray(data[:, start * step : (start + frame_len) * step])
            frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return tone


@pytest.mark.parametrize("suffix,codec,rate,layout", [
    ("wav", "pcm_f32le", 44_100, "stereo"),
    ("wav", "pcm_f32le", 8_000, "mono"),
    ("m4a", "aac", 48_000, "stereo"),
    ("flac", "flac", 22_050, "mono"),
])
def test_load_audio_resamples_and_downmixes_anything(tmp_path, suffix, codec, rate, layout):
    path = tmp_path / f"tone.{suffix}"
    write_audio(path, codec, rate, layout, seconds=1.0)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16_000) < 16_000 * 0.05
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 12_000
    assert abs(peak_hz - 440) < 5
    assert 0.3 < np.abs(audio[2000:14000]).max() <= 0.6


def test_writer_round_trip_frame_count_and_audio_duration(tmp_path):
    audio = np.zeros(int(2.5 * 16_000), np.float32)
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 25, audio) as writer:
        for i in range(63):  # 2.5 s at 25 fps = 62.5 -> 63 frames
            writer.write(np.full((48, 64, 3), i * 4, np.uint8))
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48) and info.has_audio
    frames = list(iter_frames(path))
    assert len(frames) == 63
    np.testing.assert_allclose([t for t, _ in frames][:3], [0, 0.04, 0.08], atol=1e-6)
    assert abs(len(load_audio(path)) / 16_000 - 2.5) < 0.05
    assert not list(tmp_path.glob(".*partial*"))


def test_variable_frame_rate_timestamps_come_from_the_stream(tmp_path):
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for pts in [0, 33, 100, 133, 300]:
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    times = [t for t, _ in iter_frames(path)]
    np.testing.assert_allclose(times, [0, 0.033, 0.1, 0.133, 0.3], atol=2e-3)


def test_bad_media_gives_clear_errors(tmp_path):
    with pytest.raises(LipsyncError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(LipsyncError, match="not a readable media file"):
        probe_video(junk)
    audio_only = tmp_path / "tone.wav"
    write_audio(audio_only, "pcm_f32le", 16_000, "mono")
    with pytest.raises(LipsyncError, match="no video stream"):
        probe_video(audio_only)
