"""The report's Fit section, from the bundle's fit_summary.json and curves."""

from __future__ import annotations

import pytest

from landmarks.errors import LipsyncError
from pipeline.report_fit import fit_rows, fit_section


def test_fit_rows_say_how_each_stage_stopped():
    summary = {"spent_s": {"audio2mouth": 200.0, "renderer": 2400.0},
               "stages": {"audio2mouth": {"seconds": 200.0, "action": "train",
                                          "stop": {"stopped": "early_stopping", "epochs": 14}},
                          "renderer": {"seconds": 0.0, "action": "reuse", "stop": {"stopped": "budget", "epochs": 31}}}}
    rows = fit_rows(summary)
    assert rows[0] == ("audio2mouth", "3m20s", "3m20s", "train",
                       "early stopping (validation stopped improving) after 14 epochs")
    assert rows[1][2] == "40m00s" and rows[1][4] == "its share of the budget after 31 epochs"


def test_report_shows_the_fit(sample_bundle, tmp_path, compose_app):
    from pipeline.report import build_report

    out = tmp_path / "r"
    build_report(compose_app("report", bundle=sample_bundle, out=out, strip_frames=0))
    markdown = (out / "report.md").read_text()
    assert "## Fit" in markdown and "Budget 45m00s" in markdown and "| renderer |" in markdown
    assert (out / "fit_renderer.png").exists() and "fit_renderer.png" in (out / "report.html").read_text()
    (sample_bundle / "fit_summary.json").rename(tmp_path / "kept.json")  # a bundle from before fit summaries
    try:
        assert fit_section(sample_bundle, tmp_path) == []
    finally:
        (tmp_path / "kept.json").rename(sample_bundle / "fit_summary.json")


def test_a_summary_fit_did_not_write_is_shown_as_such(tmp_path):
    (tmp_path / "fit_summary.json").write_text('{"note": "assembled by hand"}')
    (block,) = fit_section(tmp_path, tmp_path)
    assert "not written by lipsync-fit" in block
    (tmp_path / "fit_summary.json").write_text("{not json")
    with pytest.raises(LipsyncError, match="not valid JSON"):
        fit_section(tmp_path, tmp_path)
