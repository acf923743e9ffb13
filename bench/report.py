"""Results: bench/results/<timestamp>.json, history.jsonl (one line per run) and latest.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

# Targets from issue #6 (what one Rasa + one action server should reach).
TARGETS = {
    "capacity_tps": (">=", 60.0, "capacity, turns/s (closed loop, best N)"),
    "p95_ms_at_20": ("<=", 150.0, "p95 webhook→reply at open-loop 20 turns/s, ms"),
    "rasa_rss_mb": ("<=", 1228.8, "Rasa RSS under load, MB (1.2 GB)"),
    "cold_start_s": ("<=", 10.0, "Rasa cold start to ready, s"),
    "training_s": ("<=", 180.0, "full training, s"),
}


def _get(d: Any, *path: Any) -> Any:
    for p in path:
        if d is None:
            return None
        d = d.get(p) if isinstance(d, dict) else None
    return d


def key_metrics(r: dict[str, Any]) -> dict[str, Optional[float]]:
    """The flat figures kept in history.jsonl and compared run to run."""
    m: dict[str, Optional[float]] = {}
    e2e = r.get("e2e") or {}
    closed = e2e.get("closed_loop") or []
    if closed:
        m["capacity_tps"] = max((c.get("throughput_tps") or 0) for c in closed)
        for c in closed:
            m[f"closed_{c['users']}_tps"] = c.get("throughput_tps")
            m[f"closed_{c['users']}_p95_ms"] = _get(c, "latency", "p95_ms")
        m["cpu_bound_tps_per_core"] = max((c.get("cpu_bound_tps_per_core") or 0) for c in closed)
    for o in e2e.get("open_loop") or []:
        rate = int(o["rate"]) if float(o["rate"]).is_integer() else o["rate"]
        m[f"open_{rate}_p50_ms"] = _get(o, "latency", "p50_ms")
        m[f"open_{rate}_p95_ms"] = _get(o, "latency", "p95_ms")
        m[f"open_{rate}_p99_ms"] = _get(o, "latency", "p99_ms")
        if rate == 20:
            m["p95_ms_at_20"] = _get(o, "latency", "p95_ms")
    comp = r.get("components") or {}
    m["parse_p50_ms"] = _get(comp, "parse", "p50_ms")
    m["parse_p95_ms"] = _get(comp, "parse", "p95_ms")
    m["rest_turn_p50_ms"] = _get(comp, "rest_turn", "p50_ms")
    m["rest_turn_p95_ms"] = _get(comp, "rest_turn", "p95_ms")
    m["action_p50_ms"] = _get(comp, "actions", "all", "p50_ms")
    m["action_p95_ms"] = _get(comp, "actions", "all", "p95_ms")
    m["rasa_rss_rest_mb"] = _get(comp, "rss_rest_mb", "rasa")
    m["actions_rss_rest_mb"] = _get(comp, "rss_rest_mb", "actions")
    m["rasa_rss_mb"] = _get(comp, "rss_load_mb", "rasa")
    m["actions_rss_mb"] = _get(comp, "rss_load_mb", "actions")
    m["cold_start_s"] = _get(comp, "cold_start", "rasa_s")
    m["actions_cold_start_s"] = _get(comp, "cold_start", "actions_s")
    m["training_s"] = _get(comp, "training", "wall_s")
    m["training_cpu_s"] = _get(comp, "training", "cpu_s")
    for name, p in (_get(r, "nlu", "pipelines") or {}).items():
        m[f"nlu_{name}_intent_f1"] = p.get("intent_macro_f1")
        m[f"nlu_{name}_entity_f1"] = p.get("entity_macro_f1")
        m[f"nlu_{name}_parse_ms"] = p.get("parse_ms_mean")
        m[f"nlu_{name}_train_s"] = p.get("train_wall_s")
    m["nlu_headline_ratio"] = _get(r, "nlu", "headline_ratio_project_over_default")
    return {k: v for k, v in m.items() if v is not None}


def previous_run(history: Path, quick: bool) -> Optional[dict[str, Any]]:
    """The last history entry of the same kind (quick smoke runs compare with quick runs)."""
    if not history.exists():
        return None
    last = None
    for line in history.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if bool(entry.get("quick")) == quick:
            last = entry
    return last


def deltas(current: dict[str, float], previous: Optional[dict[str, Any]]) -> list[tuple[str, float, float, str]]:
    if not previous:
        return []
    prev = previous.get("metrics") or {}
    rows = []
    for k, v in current.items():
        if k in prev and isinstance(prev[k], (int, float)) and isinstance(v, (int, float)):
            p = prev[k]
            pct = f"{(v - p) / p * 100:+.0f}%" if p else "n/a"
            rows.append((k, p, v, pct))
    return rows


def _f(v: Any, nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _target_rows(m: dict[str, float]) -> list[str]:
    rows = ["| target | goal | measured | met |", "|---|---|---|---|"]
    for key, (op, goal, label) in TARGETS.items():
        v = m.get(key)
        met = "–" if v is None else ("yes" if (v >= goal if op == ">=" else v <= goal) else "**no**")
        rows.append(f"| {label} | {op} {goal:g} | {_f(v)} | {met} |")
    return rows


def markdown(r: dict[str, Any], metrics: dict[str, float], delta_rows: list[tuple[str, float, float, str]]) -> str:
    out = [f"# madoguchi bench — {r['timestamp']}", ""]
    host = r.get("host") or {}
    out.append(
        f"git `{r.get('git')}` · model `{r.get('model')}` · {'quick smoke' if r.get('quick') else 'full run'} · "
        f"{host.get('cpus')} CPUs · load average {host.get('loadavg_start')} → {host.get('loadavg_end')} "
        f"(other jobs share this machine: CPU-normalised figures are in the e2e table)"
    )
    out += ["", "## Targets (one Rasa + one action server)", ""] + _target_rows(metrics)
    parse50 = metrics.get("parse_p50_ms")
    if metrics.get("p95_ms_at_20") and parse50:
        out.append(
            f"\np95 at 20 turns/s is {metrics['p95_ms_at_20'] / parse50:.1f}× a bare `/model/parse` (p50 {parse50:.1f} ms)."
        )
    e2e = r.get("e2e") or {}
    if e2e.get("closed_loop"):
        out += [
            "",
            "## End to end over LINE — capacity (closed loop, no think time)",
            "",
            "| users | turns/s | p50 ms | p95 ms | p99 ms | turns | 1 reply each | Rasa CPU ms/turn | actions CPU ms/turn | CPU-bound turns/s per core | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in e2e["closed_loop"]:
            lat, chk, cpu = c["latency"], c["check"], c.get("cpu_ms_per_turn") or {}
            out.append(
                f"| {c['users']} | {_f(c['throughput_tps'])} | {_f(lat['p50_ms'])} | {_f(lat['p95_ms'])} | "
                f"{_f(lat['p99_ms'])} | {chk['turns']} | {'yes' if chk['ok'] else 'NO ' + json.dumps(chk)} | "
                f"{_f(cpu.get('rasa'))} | {_f(cpu.get('actions'))} | {_f(c.get('cpu_bound_tps_per_core'))} | "
                f"{c['loadavg_1m'][0]:.1f}→{c['loadavg_1m'][1]:.1f} |"
            )
    if e2e.get("open_loop"):
        out += [
            "",
            "## End to end over LINE — latency at offered load (open loop, Poisson arrivals)",
            "",
            "| offered turns/s | turns | conversations | achieved turns/s | p50 ms | p95 ms | p99 ms | max ms | 1 reply each | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for o in e2e["open_loop"]:
            lat, chk = o["latency"], o["check"]
            out.append(
                f"| {_f(o['rate'], 0)} | {o['offered']} | {o['conversations']} | {_f(o['achieved_tps'])} | "
                f"{_f(lat['p50_ms'])} | {_f(lat['p95_ms'])} | {_f(lat['p99_ms'])} | {_f(lat['max_ms'])} | "
                f"{'yes' if chk['ok'] else 'NO ' + json.dumps(chk)} | "
                f"{o['loadavg_1m'][0]:.1f}→{o['loadavg_1m'][1]:.1f} |"
            )
    comp = r.get("components") or {}
    if comp:
        out += ["", "## Components", "", "| figure | value |", "|---|---|"]
        if comp.get("parse"):
            p = comp["parse"]
            out.append(
                f"| NLU `/model/parse` at rest (n={p['n']}) | p50 {_f(p['p50_ms'])} ms, p95 {_f(p['p95_ms'])} ms |"
            )
        if comp.get("rest_turn"):
            p = comp["rest_turn"]
            out.append(
                f"| whole REST turn at rest, one person (n={p['n']}) | p50 {_f(p['p50_ms'])} ms, p95 {_f(p['p95_ms'])} ms |"
            )
        acts = comp.get("actions") or {}
        if acts.get("all"):
            out.append(
                f"| action server /webhook, all actions (n={acts['all']['n']}) | p50 {_f(acts['all']['p50_ms'])} ms, "
                f"p95 {_f(acts['all']['p95_ms'])} ms; payload {_f(acts.get('payload_kb_mean'))} kB of which domain "
                f"{_f(acts.get('domain_kb'))} kB |"
            )
            w, wo = acts.get("extract_profile_with_domain") or {}, acts.get("extract_profile_without_domain") or {}
            out.append(
                f"| action_extract_profile with / without the domain in the payload | p50 {_f(w.get('p50_ms'))} / "
                f"{_f(wo.get('p50_ms'))} ms |"
            )
        for name in ("rasa", "actions"):
            out.append(
                f"| RSS {name}: at rest / peak under load | {_f(_get(comp, 'rss_rest_mb', name))} / "
                f"{_f(_get(comp, 'rss_load_mb', name))} MB |"
            )
        cs = comp.get("cold_start") or {}
        out.append(
            f"| cold start to ready: Rasa / action server | {_f(cs.get('rasa_s'))} / {_f(cs.get('actions_s'))} s |"
        )
        tr = comp.get("training") or {}
        if tr:
            src = " (reused from an earlier run)" if tr.get("reused_from") else ""
            out.append(
                f"| full `rasa train` from scratch | {_f(tr.get('wall_s'))} s wall, {_f(tr.get('cpu_s'))} s CPU{src} |"
            )
        if acts.get("per_action"):
            out += ["", "| action | n | p50 ms | p95 ms |", "|---|---|---|---|"]
            for name, s in acts["per_action"].items():
                out.append(f"| {name} | {s['n']} | {_f(s['p50_ms'])} | {_f(s['p95_ms'])} |")
    nlu = r.get("nlu") or {}
    if nlu.get("pipelines"):
        sp = nlu.get("split") or {}
        out += [
            "",
            f"## NLU side by side (seeded stratified split: {sp.get('n_train')} train / {sp.get('n_test')} test, "
            f"seed {sp.get('seed')}; epochs × {nlu.get('epochs_scale')})",
            "",
            "| pipeline | intent macro-F1 | accuracy | fallback | faq response | entity F1 relation / need | age acc. | crisis recall | calm FP | train s (wall / CPU) | parse ms/msg | RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, p in nlu["pipelines"].items():
            if p.get("error"):
                out.append(f"| {name} | training failed | | | | | | | | {_f(p.get('train_wall_s'))} | | |")
                continue
            ef = p.get("entity_f1") or {}
            out.append(
                f"| {name} | {_f(p['intent_macro_f1'], 3)} | {_f(p['intent_accuracy'], 3)} | {_f(p['fallback_rate'], 3)} | "
                f"{_f(p.get('faq_response_accuracy'), 3)} | {_f(ef.get('relation'), 3)} / {_f(ef.get('need'), 3)} | "
                f"{_f(p['age_accuracy'], 3)} | {_f(p['crisis_recall'], 3)} | {p['calm_false_positives']}/{p['n_calm']} | "
                f"{_f(p['train_wall_s'])} / {_f(p['train_cpu_s'])} | {_f(p['parse_ms_mean'], 2)} | {_f(p.get('process_rss_mb'))} |"
            )
        if nlu.get("headline_ratio_project_over_default") is not None:
            out.append(
                f"\n**Headline: intent macro-F1 project / Rasa default = {nlu['headline_ratio_project_over_default']:.3f}**"
            )
    prof = r.get("profile") or {}
    if prof.get("top_inclusive"):
        out += [
            "",
            f"## Profile of Rasa under load (py-spy, {prof.get('samples')} busy samples of all threads, "
            f"{prof.get('phase')}; server/thread plumbing frames left out)",
            "",
            "| function (inclusive) | % of busy samples |",
            "|---|---|",
        ]
        for name, pct in prof["top_inclusive"][:15]:
            out.append(f"| `{name}` | {pct:.1f} |")
        out += ["", "| function (self) | % of busy samples |", "|---|---|"]
        for name, pct in prof.get("top_self", [])[:10]:
            out.append(f"| `{name}` | {pct:.1f} |")
    if delta_rows:
        out += [
            "",
            "## Change since the previous run of this kind",
            "",
            "| figure | previous | now | change |",
            "|---|---|---|---|",
        ]
        for k, p, v, pct in delta_rows:
            out.append(f"| {k} | {_f(p)} | {_f(v)} | {pct} |")
    return "\n".join(out) + "\n"


def write(r: dict[str, Any], results_dir: Path, history: bool = True) -> tuple[Path, str, list]:
    results_dir.mkdir(parents=True, exist_ok=True)
    metrics = key_metrics(r)
    hist = results_dir / "history.jsonl"
    prev = previous_run(hist, bool(r.get("quick")))
    rows = deltas(metrics, prev)
    r["metrics"] = metrics
    path = results_dir / f"{r['timestamp']}.json"
    path.write_text(json.dumps(r, ensure_ascii=False, indent=2), encoding="utf-8")
    md = markdown(r, metrics, rows)
    (results_dir / "latest.md").write_text(md, encoding="utf-8")
    if history:
        with hist.open("a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "timestamp": r["timestamp"],
                        "git": r.get("git"),
                        "quick": bool(r.get("quick")),
                        "loadavg": (r.get("host") or {}).get("loadavg_start"),
                        "metrics": metrics,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return path, md, rows
