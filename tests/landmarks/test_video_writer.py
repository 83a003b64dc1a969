"""The streaming mp4 writer: frame count = audio duration x fps, audio kept, atomic output."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from landmarks.errors import LipsyncError
from landmarks.media import load_audio, probe_video
from landmarks.timebase import n_frames_for_duration
from landmarks.writer import VideoWriter, rgb_to_yuv420p, write_video


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def frames(n: int, h: int = 48, w: int = 64):
    for i in range(n):
        yield np.full((h, w, 3), (i * 7) % 256, np.uint8)


@pytest.mark.parametrize(("fps", "seconds"), [(25.0, 1.0), (30000 / 1001, 1.23), (30.0, 0.5)])
def test_frame_count_and_audio_duration(tmp_path: Path, fps: float, seconds: float):
    audio = tone(seconds)
    path = write_video(tmp_path / "out.mp4", frames(10_000), fps, audio)
    expected = n_frames_for_duration(seconds, fps)
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == expected
    info = probe_video(path)
    assert info.fps == pytest.approx(fps, rel=1e-3) and info.has_audio
    back = load_audio(path)
    # AAC pads its last frame: allow that (64 ms at 16 kHz) but never a frame's worth short.
    assert seconds - 0.01 <= len(back) / 16000 <= seconds + 0.07
    # The audio survives encoding: same tone, same loudness.
    n = min(len(back), len(audio))
    assert np.corrcoef(back[:n], audio[:n])[0, 1] > 0.9
    assert not list(tmp_path.glob(".*partial*"))  # the temporary file was renamed away


def test_too_few_frames_is_an_error_and_leaves_no_file(tmp_path: Path):
    out = tmp_path / "short.mp4"
    with pytest.raises(LipsyncError, match="needs 25"):
        with VideoWriter(out, 25, tone(1.0)) as writer:
            for frame in frames(20):
                writer.write(frame)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_too_many_frames_and_bad_frames_are_refused(tmp_path: Path):
    writer = VideoWriter(tmp_path / "x.mp4", 25, tone(0.2))
    assert writer.n_frames == 5
    with pytest.raises(LipsyncError, match="uint8"):
        writer.write(np.zeros((16, 16, 3), np.float32))
    for frame in frames(5):
        writer.write(frame)
    with pytest.raises(LipsyncError, match="too many"):
        writer.write(next(frames(1)))
    writer.close()
    assert (tmp_path / "x.mp4").exists()


def test_odd_frame_size_is_padded(tmp_path: Path):
    path = write_video(tmp_path / "odd.mp4", frames(100, 47, 63), 25, tone(0.4))
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48)


def test_bad_arguments(tmp_path: Path):
    with pytest.raises(LipsyncError):
        VideoWriter(tmp_path / "x.avi", 25, tone(1))
    with pytest.raises(LipsyncError):
        VideoWriter(tmp_path / "missing" / "x.mp4", 25, tone(1))
    with pytest.raises(LipsyncError):
        VideoWriter(tmp_path / "x.mp4", 25, np.zeros(0, np.float32))


def test_yuv_conversion_matches_ffmpeg():
    """OpenCV's I420 conversion stands in for FFmpeg's rgb24 -> yuv420p.

    Luma agrees within a level everywhere; chroma, subsampled 2x2 by both with different
    filters, agrees within 3 levels on smooth images (on pixel noise the filters differ).
    """
    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.linspace(0, 255, 64), np.linspace(30, 220, 48))
    smooth = np.stack([x, y, 255 - (x + y) / 2], -1).astype(np.uint8)
    noisy = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    for rgb, chroma_tolerance in ((smooth, 3), (noisy, 255)):
        ffmpeg = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
        ours = rgb_to_yuv420p(rgb)
        assert ours.shape == ffmpeg.shape == (72, 64)
        difference = np.abs(ours.astype(int) - ffmpeg.astype(int))
        assert difference[:48].max() <= 1
        assert difference[48:].max() <= chroma_tolerance
    white = rgb_to_yuv420p(np.full((2, 2, 3), 255, np.uint8))
    assert white[0, 0] == 235  # limited range, as FFmpeg writes it


def test_colours_survive_encoding(tmp_path: Path):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (128, 128, 128)]
    blocks = [np.full((48, 64, 3), c, np.uint8) for c in colours]
    path = write_video(tmp_path / "colours.mp4", iter(blocks * 3), 25, tone(12 / 25))
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for frame, colour in zip(decoded, colours * 3, strict=True):
        assert np.abs(frame[8:-8, 8:-8].mean((0, 1)) - colour).max() < 4
