"""The budget's arithmetic: durations, shares, estimates, when a finished stage is continued."""

from __future__ import annotations

import pytest

from landmarks.errors import LipsyncError
from pipeline.budget import (
    Ledger,
    StageTiming,
    batches_per_epoch,
    budget_minutes,
    format_duration,
    lightning_time,
    max_time_seconds,
    parse_duration,
    share_budget,
    worth_extending,
)


@pytest.mark.parametrize("text,seconds", [("45m", 2700), ("1h30m", 5400), ("90s", 90), ("2h", 7200),
                                          ("1.5h", 5400), ("1h0m30s", 3630), (" 45M ", 2700)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["45", "abc", "m", "1h-5m", "0m", "45 minutes"])
def test_parse_duration_refuses_with_one_line(bad):
    with pytest.raises(LipsyncError) as err:
        parse_duration(bad)
    assert "\n" not in str(err.value)


def test_no_budget_and_formats():
    assert parse_duration(None) is None and parse_duration("none") is None
    assert format_duration(3725) == "1h02m" and format_duration(754) == "12m34s" and format_duration(9) == "9s"
    assert lightning_time(3725) == "00:01:02:05" and max_time_seconds("00:01:02:05") == 3725
    assert max_time_seconds({"hours": 1, "minutes": 2}) == 3720 and max_time_seconds(None) is None
    assert budget_minutes("45m", 15) == 60 and budget_minutes("none") == 24 * 60


def test_shares_follow_prepare_and_audio2mouth():
    planned = share_budget(2700, prepare_s=300, audio2mouth_fraction=0.15, assemble_s=30)
    assert planned.audio2mouth_s == pytest.approx(0.15 * 2370)
    assert planned.audio2mouth_s + planned.renderer_s + 300 + 30 == pytest.approx(2700)
    # audio2mouth stopped early: the renderer gets what it left.
    actual = share_budget(2700, 300, 0.15, 30, audio2mouth_used_s=100)
    assert actual.renderer_s == pytest.approx(2270)
    with pytest.raises(LipsyncError, match="used up"):
        share_budget(60, prepare_s=50, audio2mouth_fraction=0.15, assemble_s=30)


def test_estimate_is_capped_by_the_time_limit_and_counts_earlier_runs():
    timing = StageTiming(overhead_s=10, batch_s=0.5, batches_per_epoch=100, val_s=5, max_epochs=20)
    assert timing.epoch_s == 55
    assert timing.estimate(None) == (10 + 20 * 55, "max_epochs")
    assert timing.estimate(600) == (610, "budget")
    assert timing.estimate(600, done_s=400) == (210, "budget")  # a resumed stage runs the difference


def test_batches_per_epoch_applies_lightning_limits():
    assert batches_per_epoch(50, None) == 50 and batches_per_epoch(50, 4) == 4 and batches_per_epoch(3, 4) == 3
    assert batches_per_epoch(50, 0.5) == 25 and batches_per_epoch(50, 1.0) == 50


def test_only_a_stage_the_budget_stopped_is_continued():
    stopped = {"stopped": "budget", "train_s": 100.0}
    assert worth_extending(stopped, 200) and worth_extending(stopped, None)
    assert not worth_extending(stopped, 115)  # too little more to be worth a restart
    assert not worth_extending({"stopped": "early_stopping", "train_s": 100.0}, 1000)
    assert not worth_extending({"stopped": "max_epochs", "train_s": 100.0}, 1000) and not worth_extending(None, 9)


def test_ledger_sums_over_runs(tmp_path):
    ledger = Ledger(tmp_path / "work" / "fit_state.json")
    ledger.add("prepare", 10)
    ledger.add("prepare", 5)
    assert Ledger(tmp_path / "work" / "fit_state.json").get("prepare") == 15
    (tmp_path / "work" / "fit_state.json").write_text("{broken")
    assert Ledger(tmp_path / "work" / "fit_state.json").get("prepare") == 0
