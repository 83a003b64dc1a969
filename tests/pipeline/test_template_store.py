"""The template's frame store: lazy decoding, ping-pong reads, a short video caught."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.errors import LipsyncError
from landmarks.media import iter_frames
from landmarks.writer import VideoWriter
from pipeline.template import FrameStore, bounce_indices


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "clip.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(path, 25, None) as writer:
        for k in range(12):
            frame = np.full((48, 64, 3), 20 * k, np.uint8)
            frame[8:40, 8:56] = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
            writer.write(frame)
    return path


def test_store_returns_the_decoded_frames_in_ping_pong_order(clip):
    frames = [rgb for _, rgb in iter_frames(clip)]
    order = bounce_indices(20, 3, 8)  # forwards, backwards, forwards again
    with FrameStore(clip, 3, 8) as store:
        assert store.stored == 0  # nothing decoded before the first frame is asked for
        first = store[3]
        assert store.stored == 1
        np.testing.assert_array_equal(first, frames[3])
        for j in order:
            np.testing.assert_array_equal(store[j], frames[j])
        assert store.stored == 6
        with pytest.raises(IndexError):
            store[9]


def test_store_reports_a_video_shorter_than_its_track(clip):
    with FrameStore(clip, 0, 20) as store:
        assert store[11].shape == (48, 64, 3)  # the frames that exist are served
        with pytest.raises(LipsyncError, match="fewer frames than its landmark track"):
            store[15]
