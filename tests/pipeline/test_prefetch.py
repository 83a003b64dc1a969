"""pipeline.prefetch: a generator run in a worker thread keeps its order, its errors and its lifetime."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.prefetch import prefetched


def test_items_arrive_in_order_and_all_of_them():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetched([], depth=1)) == []


def test_the_producer_runs_ahead_of_the_consumer():
    produced = []

    def slow_source():
        for i in range(4):
            produced.append(i)
            yield i

    items = prefetched(slow_source(), depth=4)
    assert next(items) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert produced == [0, 1, 2, 3]  # made while the consumer held only the first
    assert list(items) == [1, 2, 3]


def test_a_producer_error_is_raised_in_the_consumer():
    def failing():
        yield 1
        raise ValueError("bad frame 2")

    items = prefetched(failing())
    assert next(items) == 1
    with pytest.raises(ValueError, match="bad frame 2"):
        next(items)


def test_stopping_early_stops_and_joins_the_producer():
    started = threading.active_count()
    made = []

    def endless():
        i = 0
        while True:
            made.append(i)
            yield i
            i += 1

    items = prefetched(endless(), depth=2)
    assert next(items) == 0
    items.close()  # the consumer gives up (as when the encoder raises)
    assert threading.active_count() == started
    count = len(made)
    time.sleep(0.2)
    assert len(made) == count  # nothing is produced after close


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        list(prefetched([1], depth=0))
