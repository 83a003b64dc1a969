"""Run a generator in a worker thread, so its work overlaps with the consumer's.

speak's render boxes are produced by decode + face maps + render and consumed by
paste-back + the H.264 encoder. Both sides spend most of their time in native code
that releases the GIL (oneDNN, OpenCV, libx264), so on two cores the paste and the
encoder run while the next frames are painted instead of after them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(items: Iterable[T], depth: int = 16) -> Iterator[T]:
    """Yield ``items`` in order while a worker thread produces up to ``depth`` of them ahead.

    An exception in the producer is re-raised here, in the consumer's thread. If the
    consumer stops early (an exception or ``close()``), the producer is told to stop and
    is joined, so no thread outlives the loop.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, who re-raises it
            put(_Failure(error))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
