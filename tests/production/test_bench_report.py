"""The bench's pure parts: percentiles, the results history (delta vs the previous run),
the Markdown report and the py-spy profile summary. No processes are started."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import summarise_profile
from bench.report import deltas, key_metrics, markdown, previous_run, write
from testing.common import latency_summary, percentile


def result(ts: str, tps: float, quick: bool = True) -> dict:
    lat = latency_summary([100, 120, 130, 500])
    check = {"turns": 4, "one_reply": 4, "doubled": 0, "pushed_instead": 0, "missing": 0, "http_errors": 0, "ok": True}
    return {
        "timestamp": ts,
        "git": "abc",
        "quick": quick,
        "model": "m.tar.gz",
        "host": {"cpus": 2, "loadavg_start": 1.0, "loadavg_end": 1.2},
        "e2e": {
            "closed_loop": [
                {
                    "users": 10,
                    "throughput_tps": tps,
                    "latency": lat,
                    "check": check,
                    "cpu_ms_per_turn": {"rasa": 50.0, "actions": 5.0},
                    "cpu_bound_tps_per_core": 18.0,
                    "loadavg_1m": [1.0, 1.1],
                }
            ],
            "open_loop": [
                {
                    "rate": 20.0,
                    "offered": 4,
                    "conversations": 2,
                    "achieved_tps": 3.0,
                    "latency": lat,
                    "check": check,
                    "loadavg_1m": [1.0, 1.1],
                }
            ],
        },
        "components": {
            "parse": latency_summary([20, 22]),
            "cold_start": {"rasa_s": 12.0, "actions_s": 2.0},
            "rss_rest_mb": {"rasa": 1500.0, "actions": 60.0},
            "rss_load_mb": {"rasa": 1600.0, "actions": 70.0},
        },
    }


def test_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([5], 99) == 5
    assert percentile([1, 2, 3, 4], 50) == 2.5
    s = latency_summary(range(1, 101))
    assert s["n"] == 100 and 94 < s["p95_ms"] < 97 and s["max_ms"] == 100


def test_history_keeps_runs_and_compares_with_the_previous_of_the_same_kind(tmp_path: Path) -> None:
    write(result("20260101T000000Z", 10.0), tmp_path)
    write(result("20260101T000100Z", 8.0, quick=False), tmp_path)
    _, md, rows = write(result("20260101T000200Z", 12.0), tmp_path)
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["metrics"]["capacity_tps"] == 10.0
    delta = {k: (p, v, pct) for k, p, v, pct in rows}
    assert delta["capacity_tps"] == (10.0, 12.0, "+20%")  # not the full run in between
    assert "Change since the previous run" in md and (tmp_path / "latest.md").read_text() == md
    assert (tmp_path / "20260101T000200Z.json").exists()
    assert previous_run(tmp_path / "history.jsonl", quick=False)["timestamp"] == "20260101T000100Z"


def test_markdown_reports_targets_honestly() -> None:
    r = result("20260101T000000Z", 10.0)
    m = key_metrics(r)
    md = markdown(r, m, deltas(m, None))
    assert "| capacity, turns/s (closed loop, best N) | >= 60 | 10.0 | **no** |" in md
    assert "| Rasa cold start to ready, s | <= 10 | 12.0 | **no** |" in md
    assert m["p95_ms_at_20"] == r["e2e"]["open_loop"][0]["latency"]["p95_ms"]


def test_profile_summary(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (a.py:1);parse (/x/site-packages/rasa/nlu.py:10);tok2vec (spacy/t.py:3) 6\n"
        "main (a.py:1);save (/x/site-packages/rasa/store.py:5) 4\n"
    )
    s = summarise_profile(raw)
    assert s["samples"] == 10
    assert dict(s["top_inclusive"])["a.py:main"] == 100.0
    assert dict(s["top_inclusive"])["rasa/nlu.py:parse"] == 60.0
    assert dict(s["top_self"])["spacy/t.py:tok2vec"] == 60.0
