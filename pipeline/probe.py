"""Measure a stage's throughput before fit commits to a plan: a few real training batches.

The probe runs the stage's own ``train(cfg)`` with the user's overrides, cut to one
epoch of ``n_batches + 1`` batches (the first is a warm-up) and one validation batch,
into a scratch directory. Everything it spends outside those batches (data setup,
test, export) is the stage's fixed overhead; epochs are extrapolated from the
median batch time and the number of batches the real run will see.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl

from pipeline.budget import StageTiming, batches_per_epoch
from pipeline.stages import compose_stage


class BatchClock(pl.Callback):
    """Wall time (s) of each training batch and each validation batch during fit, and the loader sizes."""

    def __init__(self):
        self.train: list[float] = []
        self.val: list[float] = []
        self.n_train = self.n_val = 0
        self._t0 = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        # The loaders' full lengths, not the probe's limited count. Summed over the stage's training
        # passes: audio2mouth with pretrain_caches trains twice (a pass with the other anchors, then
        # this clip alone), and the plan must count the epochs of both.
        self.n_train += len(trainer.datamodule.train_dataloader())
        self.n_val += len(trainer.datamodule.val_dataloader())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train.append(time.perf_counter() - self._t0)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._t0 = time.perf_counter()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self.val.append(time.perf_counter() - self._t0)


def probe_stage(config_name: str, train: Callable, overrides: Sequence[str], scratch: Path,
                n_batches: int = 3) -> StageTiming:
    """Time ``n_batches`` training batches of the stage ``config_name`` composed with ``overrides``."""
    real = compose_stage(config_name, overrides)
    shutil.rmtree(scratch, ignore_errors=True)
    probe = compose_stage(config_name, [
        *overrides, f"paths.output_dir={scratch}", "~logger", "trainer.max_epochs=1",
        f"++trainer.limit_train_batches={n_batches + 1}", "++trainer.limit_val_batches=1",
        "++trainer.max_time=null", "++trainer.enable_progress_bar=false",
    ])
    clock = BatchClock()
    t0 = time.perf_counter()
    try:
        train(probe, callbacks=[clock])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    wall = time.perf_counter() - t0
    timed = clock.train[1:] or clock.train  # the first batch pays for lazy initialisation
    batch_s = statistics.median(timed) if timed else 0.0
    val_batch_s = statistics.median(clock.val) if clock.val else 0.0
    n_train = batches_per_epoch(clock.n_train, real.trainer.get("limit_train_batches"))
    n_val = batches_per_epoch(clock.n_val, real.trainer.get("limit_val_batches"))
    overhead = max(wall - sum(clock.train) - sum(clock.val), 0.0)
    return StageTiming(overhead_s=overhead, batch_s=batch_s, batches_per_epoch=n_train,
                       val_s=n_val * val_batch_s, max_epochs=int(real.trainer.max_epochs))
