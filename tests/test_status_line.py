"""The driver's console status line: format, and on/off with monitoring_level."""

from __future__ import annotations

import json
import re
import time

import pytest
from raystream.actors.status import Sample, format_status, make_sample

import raystream as pw

LINE = re.compile(r"^\[(?P<name>[^\]]+)\] in [\d,]+ rows.* \| out [\d,]+ rows.* \| "
                  r".*backlog [\d,]+ rows \| last commit .*$", re.M)


def test_line_shows_rates_lag_backlog_and_commit_age() -> None:
    commit_ms = time.time() * 1000 - 1500
    before = Sample(at=10.0, rows_in=1000, rows_out=100)
    now = Sample(at=12.0, rows_in=5000, rows_out=2100, lag_records=3400, backlog=8000,
                 last_commit=int(commit_ms))
    line = format_status("p", before, now, wall_ms=commit_ms + 1500)
    assert line.startswith("[p] in 5,000 rows (2,000/s) | out 2,100 rows (1,000/s) | "
                           "lag 3,400 | backlog 8,000 rows | last commit ")
    assert line.endswith("(1.5 s ago)")


def test_first_line_shows_totals_and_missing_commit() -> None:
    line = format_status("p", None, Sample(at=1.0, rows_in=7, rows_out=0, millis_behind=2500))
    assert line == "[p] in 7 rows | out 0 rows | behind 2.5 s | backlog 0 rows | last commit -"


def test_sample_sums_readers_and_sinks() -> None:
    readers = [{"rows": 5, "in_flight": 2, "lag_records": 10},
               {"rows": 7, "in_flight": 1, "lag_records": None, "millis_behind_latest": 40}]
    sample = make_sample(1.0, readers, [{"rows_written": 3}], {"last_commit_time": 1234})
    assert (sample.rows_in, sample.rows_out, sample.backlog) == (12, 3, 3)
    assert (sample.lag_records, sample.millis_behind, sample.last_commit) == (10, 40, 1234)


class Schema(pw.Schema):
    key: int
    value: int


def streaming_pipeline(tmp_path) -> None:
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"key": i % 3, "value": i}) + "\n"
                                               for i in range(100)))
    t = pw.io.jsonlines.read(tmp_path / "in.jsonl", schema=Schema, autocommit_duration_ms=200)
    pw.io.jsonlines.write(t.groupby(t.key).reduce(t.key, n=pw.reducers.count()),
                          tmp_path / "out.jsonl")


@pytest.mark.usefixtures("ray_session")
@pytest.mark.parametrize("level, printed", [(pw.MonitoringLevel.AUTO, True),
                                            (pw.MonitoringLevel.NONE, False)])
def test_status_line_while_running_unless_monitoring_is_off(tmp_path, capsys, level,
                                                            printed) -> None:
    streaming_pipeline(tmp_path)
    pw.run(monitoring_level=level, timeout_s=4, status_interval_s=0.5, name="status-test")
    lines = LINE.findall(capsys.readouterr().err)
    assert bool(lines) == printed
    if printed:
        assert set(lines) == {"status-test"}


def test_the_status_line_names_the_partition_furthest_behind() -> None:
    label = "kafka:events"  # ReaderConfig.source: the source stage's name
    readers = [{"rows": 1, "lag_records": 12, "worst_lag": (f"{label}[4]", 9)},
               {"rows": 1, "lag_records": 40, "worst_lag": (f"{label}[1]", 31)},
               {"rows": 1, "lag_records": 0, "worst_lag": None}]
    line = format_status("p", None, make_sample(1.0, readers, [], {}))
    assert "lag 52 (worst kafka:events[1]: 31)" in line
