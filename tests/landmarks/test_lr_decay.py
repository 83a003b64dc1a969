"""LinearDecay: learning rates held, then decayed linearly over the run's epochs or time budget."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from landmarks.training import LinearDecay


class TwoOptimizers(pl.LightningModule):
    """A regression with two optimizers under manual optimization, as the GAN modules have."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.a, self.b = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
        self.seen: list[tuple[float, float]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt_a, opt_b = self.optimizers()
        self.seen.append((opt_a.param_groups[0]["lr"], opt_b.param_groups[0]["lr"]))
        for opt, net in ((opt_a, self.a), (opt_b, self.b)):
            opt.zero_grad()
            self.manual_backward(((net(x) - y) ** 2).mean())
            opt.step()

    def configure_optimizers(self):
        return [torch.optim.Adam(self.a.parameters(), lr=1e-3), torch.optim.Adam(self.b.parameters(), lr=4e-3)]


def fit(callback: pl.Callback, epochs: int = 4) -> TwoOptimizers:
    data = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
    module = TwoOptimizers()
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[callback], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, DataLoader(data, batch_size=2))
    return module


def test_factor_holds_then_falls_linearly_to_the_floor():
    decay = LinearDecay(hold=0.5, floor=0.1)
    assert [decay.factor(p) for p in (0.0, 0.5)] == [1.0, 1.0]
    assert decay.factor(0.75) == pytest.approx(0.55)
    assert decay.factor(1.0) == pytest.approx(0.1) and decay.factor(2.0) == pytest.approx(0.1)


def test_rates_of_every_optimizer_follow_the_epochs():
    module = fit(LinearDecay(hold=0.5, floor=0.0), epochs=4)  # 4 batches an epoch, 16 in all
    a, b = zip(*module.seen, strict=True)
    assert a[0] == pytest.approx(1e-3) and b[0] == pytest.approx(4e-3)
    assert all(x == pytest.approx(1e-3) for x in a[:8])  # the first half is held
    assert all(later < earlier for earlier, later in zip(a[8:], a[9:], strict=False))  # then strictly falls
    assert a[-1] < 0.2e-3  # near the floor at the last batch
    assert [y / x for x, y in zip(a, b, strict=True)] == pytest.approx([4.0] * len(a))  # same schedule


def test_floor_one_leaves_the_rates_alone():
    module = fit(LinearDecay(hold=0.5, floor=1.0), epochs=2)
    assert {round(a, 9) for a, _ in module.seen} == {1e-3}


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="hold"):
        LinearDecay(hold=1.0)
    with pytest.raises(ValueError, match="floor"):
        LinearDecay(floor=-0.1)


def test_progress_follows_the_time_budget_when_it_ends_the_run_first():
    from datetime import timedelta
    from types import SimpleNamespace

    from pytorch_lightning.callbacks import Timer

    from landmarks.training import run_progress

    timer = Timer(duration=timedelta(seconds=100))
    timer.time_elapsed = lambda stage="train": 30.0  # 30 s of a 100 s budget
    batches = SimpleNamespace(current=SimpleNamespace(completed=5))
    trainer = SimpleNamespace(callbacks=[timer], max_epochs=300, num_training_batches=10, current_epoch=1,
                              fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=batches)))
    assert run_progress(trainer) == pytest.approx(0.3)  # not 1.5 / 300 epochs
    trainer.callbacks = []
    assert run_progress(trainer) == pytest.approx(1.5 / 300)
