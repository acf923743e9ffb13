"""`python -m bench` (make bench): end-to-end load over LINE, component figures, NLU side by side.

    python -m bench                 # full run (~20–30 min on 2 cores): e2e, components, training, NLU x4
    python -m bench --quick         # smoke run: short phases, no training, no NLU comparison
    python -m bench --skip-train    # reuse the last full-training figure from history.jsonl
    python -m bench --skip-nlu --profile   # e2e + components, py-spy profile of Rasa under load

Writes bench/results/<timestamp>.json, appends bench/results/history.jsonl, writes and prints
bench/results/latest.md (with the change since the previous run of the same kind).
Only 127.0.0.1 is used, on free ports. This is a benchmark, not a timed test: figures depend on
what else runs on the machine (the load average is recorded with every phase).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from bench import components, report
from bench.conversations import MIX, all_texts
from bench.load import Client, FakeLine, closed_loop, open_loop
from bench.stack import LINE_SECRET, BenchStack
from testing.common import RESULTS, ROOT, VENV_BIN, base_env, git_rev, loadavg, machine, newest_model, rss_mb


def _floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x.strip()]


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run in seconds (implies --skip-train --skip-nlu)")
    ap.add_argument("--skip-train", action="store_true", help="reuse the last full-training figure")
    ap.add_argument("--skip-nlu", action="store_true", help="no NLU side-by-side comparison")
    ap.add_argument("--skip-e2e", action="store_true", help="no stack, no load (NLU/training only)")
    ap.add_argument("--users", default=None, help="closed-loop user counts (default 1,10,20,50)")
    ap.add_argument("--rates", default=None, help="open-loop turns/s (default 5,10,20,40)")
    ap.add_argument("--phase-seconds", type=float, default=None, help="seconds per load phase (default 25)")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of Rasa during one closed-loop phase")
    ap.add_argument("--profile-users", type=int, default=20)
    ap.add_argument("--model", default=None, help="model to serve (default MADOGUCHI_MODEL or newest)")
    ap.add_argument(
        "--endpoints",
        default=None,
        help="endpoints file for Rasa (e.g. deploy/endpoints.production.yml with its env vars set); "
        "default: SQLite tracker store + in-memory lock store, like make run",
    )
    ap.add_argument(
        "--endpoints-extra",
        default=None,
        metavar="FILE",
        help="YAML appended to the generated endpoints.yml (e.g. an event_broker section)",
    )
    ap.add_argument(
        "--rasa-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for Rasa and the action server, for A/B runs "
        "(e.g. TF_INTRA_OP_PARALLELISM_THREADS=1); repeatable",
    )
    ap.add_argument("--nlu-epochs-scale", type=float, default=1.0)
    ap.add_argument("--results-dir", default=str(RESULTS))
    ap.add_argument("--no-history", action="store_true", help="do not append to history.jsonl")
    args = ap.parse_args(argv)
    if args.quick:
        args.skip_train = True
        args.skip_nlu = True
    args.users = [int(x) for x in _floats(args.users or ("1,4" if args.quick else "1,10,20,50"))]
    args.rates = _floats(args.rates or ("2,5" if args.quick else "5,10,20,40"))
    args.phase_seconds = args.phase_seconds or (4.0 if args.quick else 25.0)
    return args


# --- profiling -----------------------------------------------------------------------------------
# Leaf frames of threads that wait (thread-pool workers, selectors): py-spy --nonblocking
# cannot always tell them from running code, so they are left out of the shares.
_IDLE_LEAVES = ("thread.py:_worker", "threading.py:wait", "selectors.py:select", "queue.py:get")


def summarise_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """Collapsed py-spy stacks → top functions by inclusive and by self share of the busy
    (non-idle) samples, all threads."""
    inclusive: Counter = Counter()
    self_: Counter = Counter()
    total = idle = 0
    opener = gzip.open if str(raw).endswith(".gz") else open
    with opener(raw, "rt", errors="replace") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = [_frame(f) for f in stack.split(";") if f]
        if frames and frames[-1].endswith(_IDLE_LEAVES):
            idle += n
            continue
        total += n
        for f in set(frames):
            inclusive[f] += n
        if frames:
            self_[frames[-1]] += n
    noise = (
        "threading.py:",
        "sanic/",
        "rasa/__main__.py",
        "rasa:<module>",
        "rasa/cli/",
        "rasa/api.py",
        "rasa/core/run.py:serve_application",
        "asyncio/",
        "uvloop",
        "dask/",
        "contextlib.py",
        "concurrent/futures/",
    )
    pct = lambda c, skip: (
        [(k, round(100 * v / total, 1)) for k, v in c.most_common(top * 4) if not (skip and k.startswith(noise))][:top]
        if total
        else []
    )
    return {
        "samples": total,
        "idle_samples": idle,
        "top_inclusive": pct(inclusive, True),
        "top_self": pct(self_, False),
    }


def _frame(f: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:123)` → `pkg/mod.py:func`."""
    name, _, where = f.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.10/", str(ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{where}:{name}"


# --- main ----------------------------------------------------------------------------------------
async def e2e(args: argparse.Namespace, result: dict[str, Any], workdir: Path) -> None:
    fake = await FakeLine().start()
    model = Path(args.model) if args.model else newest_model()
    result["model"] = model.name
    extra = dict(kv.split("=", 1) for kv in args.rasa_env)
    stack = BenchStack(
        workdir=workdir,
        model=model,
        line_api_url=fake.base_url,
        endpoints_file=Path(args.endpoints) if args.endpoints else None,
        extra_env=extra,
        endpoints_extra=Path(args.endpoints_extra).read_text(encoding="utf-8") if args.endpoints_extra else "",
    )
    comp: dict[str, Any] = result.setdefault("components", {})
    try:
        print("[bench] starting action server and Rasa (cold start) …", flush=True)
        await asyncio.to_thread(stack.start_actions)
        await asyncio.to_thread(stack.start_rasa)
        comp["cold_start"] = dict(stack.cold_start)
        pids = {"rasa": stack.pid("rasa"), "actions": stack.pid("actions")}
        texts = all_texts()
        age_texts = [
            c["text"]
            for c in __import__("yaml").safe_load((ROOT / "tests/data/age_eval.yml").read_text(encoding="utf-8"))[
                "cases"
            ]
        ]
        parse_texts = texts + ([] if args.quick else age_texts)
        print("[bench] NLU parse latency at rest …", flush=True)
        comp["parse"] = await asyncio.to_thread(
            components.parse_latency, stack.rasa_url, parse_texts, 1 if args.quick else 3
        )
        print("[bench] REST turn latency at rest (whole conversations, one person) …", flush=True)
        comp["rest_turn"] = await asyncio.to_thread(
            components.rest_turn_latency, stack.rasa_url, [steps for _, _, steps in MIX], 1 if args.quick else 2
        )
        comp["rss_rest_mb"] = {k: rss_mb(p) for k, p in pids.items()}
        e2e_res: dict[str, Any] = {"closed_loop": [], "open_loop": []}
        result["e2e"] = e2e_res
        peak = dict(comp["rss_rest_mb"])
        async with Client(fake, [stack.rasa_url], LINE_SECRET) as client:
            for users in args.users:
                print(f"[bench] closed loop, {users} user(s), {args.phase_seconds:.0f} s …", flush=True)
                prof_proc = None
                if args.profile and users == args.profile_users:
                    prof_proc = _start_profile(pids["rasa"], args.phase_seconds, workdir / "profile.txt")
                r = await closed_loop(client, users, args.phase_seconds, pids)
                if prof_proc is not None:
                    await asyncio.to_thread(prof_proc.wait, 60)
                    raw = workdir / "profile.txt"
                    if raw.exists():
                        prof = summarise_profile(raw)
                        prof["phase"] = f"closed loop, {users} users, {args.phase_seconds:.0f} s"
                        result["profile"] = prof
                        with (
                            open(raw, "rb") as src,
                            gzip.open(Path(args.results_dir) / f"profile-{result['timestamp']}.txt.gz", "wb") as dst,
                        ):
                            shutil.copyfileobj(src, dst)
                e2e_res["closed_loop"].append(r)
                peak = {k: max(peak[k], r["rss_peak_mb"].get(k, 0)) for k in peak}
                print(
                    f"        {r['throughput_tps']} turns/s, p95 {r['latency']['p95_ms']} ms, check {r['check']}",
                    flush=True,
                )
            capacity = max((c["throughput_tps"] or 0) for c in e2e_res["closed_loop"]) if e2e_res["closed_loop"] else 0
            for rate in args.rates:
                seconds = args.phase_seconds
                if capacity and rate > 2 * capacity:
                    seconds = max(3.0, args.phase_seconds / 3)  # far over capacity: keep the backlog bounded
                print(f"[bench] open loop, {rate:g} turns/s, {seconds:.0f} s …", flush=True)
                r = await open_loop(client, rate, seconds, pids)
                r["over_capacity"] = bool(capacity and rate > capacity)
                e2e_res["open_loop"].append(r)
                peak = {k: max(peak[k], r["rss_peak_mb"].get(k, 0)) for k in peak}
                print(
                    f"        p50 {r['latency']['p50_ms']} / p95 {r['latency']['p95_ms']} / p99 "
                    f"{r['latency']['p99_ms']} ms, achieved {r['achieved_tps']} turns/s, check {r['check']}",
                    flush=True,
                )
            comp["rss_load_mb"] = peak
            # Action server latency: replay the calls Rasa made in some finished conversations.
            print("[bench] action server latency (recorded tracker payloads) …", flush=True)
            senders = _finished_senders(client, stack.sender_key, 6 if args.quick else 25)
            calls = await asyncio.to_thread(
                components.recorded_action_calls, stack.rasa_url, senders, 40 if args.quick else 300
            )
            comp["actions"] = await asyncio.to_thread(components.action_latency, stack.actions_url, calls)
        result["stack_log_tail"] = _tail(workdir / "rasa.log", 20) if not _all_ok(result) else None
    finally:
        stack.stop_all()
        await fake.close()


def _all_ok(result: dict[str, Any]) -> bool:
    e = result.get("e2e") or {}
    return all(p["check"]["ok"] for p in e.get("closed_loop", []) + e.get("open_loop", []))


def _tail(path: Path, n: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def _finished_senders(client: Client, key: str, n: int) -> list[str]:
    import hashlib
    import hmac

    users = list(dict.fromkeys(t.user_id for t in client.turns if t.done is not None))
    pick = users[:: max(1, len(users) // n)][:n]
    return [f"line-{hmac.new(key.encode(), f'line:{u}'.encode(), hashlib.sha256).hexdigest()[:32]}" for u in pick]


def _start_profile(pid: int, seconds: float, out: Path) -> Optional[subprocess.Popen]:
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(spy).exists():
        print("[bench] py-spy not installed (pip install py-spy): no profile", flush=True)
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "50",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def training(args: argparse.Namespace, result: dict[str, Any], workdir: Path) -> None:
    comp = result.setdefault("components", {})
    if args.skip_train:
        prev = _last_training(Path(args.results_dir) / "history.jsonl")
        if prev:
            comp["training"] = prev
        return
    print("[bench] full training (rasa train, empty cache) …", flush=True)
    comp["training"] = components.full_training(workdir / "train.log")
    comp["training"]["loadavg_end"] = loadavg()


def _last_training(history: Path) -> Optional[dict[str, Any]]:
    if not history.exists():
        return None
    found = None
    for line in history.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        m = e.get("metrics") or {}
        if "training_s" in m and not e.get("training_reused"):
            found = {"wall_s": m["training_s"], "cpu_s": m.get("training_cpu_s"), "reused_from": e["timestamp"]}
    return found


def nlu(args: argparse.Namespace, result: dict[str, Any], workdir: Path) -> None:
    if args.skip_nlu:
        return
    out = workdir / "nlu.json"
    print("[bench] NLU side by side (4 pipelines: train + evaluate) …", flush=True)
    cmd = [sys.executable, "-m", "bench.nlu_compare", "--out", str(out), "--epochs-scale", str(args.nlu_epochs_scale)]
    proc = subprocess.run(cmd, cwd=ROOT, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("[nlu]"):
            print("      " + line, flush=True)
    if proc.returncode == 0 and out.exists():
        result["nlu"] = json.loads(out.read_text(encoding="utf-8"))
    else:
        result["nlu"] = {"error": proc.stdout[-3000:]}


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any] = {
        "timestamp": stamp,
        "git": git_rev(),
        "quick": args.quick,
        "host": {**machine(), "loadavg_start": loadavg()},
        "settings": {
            "users": args.users,
            "rates": args.rates,
            "phase_seconds": args.phase_seconds,
            "endpoints": args.endpoints or "sqlite + in_memory lock",
            "rasa_env": args.rasa_env,
            "endpoints_extra": args.endpoints_extra,
        },
    }
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    started = time.monotonic()
    try:
        if not args.skip_e2e:
            asyncio.run(e2e(args, result, workdir))
        training(args, result, workdir)
        nlu(args, result, workdir)
    finally:
        result["host"]["loadavg_end"] = loadavg()
        result["seconds"] = round(time.monotonic() - started, 1)
        if (result.get("components") or {}).get("training", {}).get("reused_from"):
            result["training_reused"] = True
        path, md, rows = report.write(result, Path(args.results_dir), history=not args.no_history)
        if result.get("training_reused") and not args.no_history:
            _mark_reused(Path(args.results_dir) / "history.jsonl")
        shutil.rmtree(workdir, ignore_errors=True)
    print(md)
    print(f"[bench] wrote {path} and {Path(args.results_dir) / 'latest.md'} in {result['seconds']} s")
    if not rows:
        print("[bench] no earlier run of this kind to compare with")
    if not _all_ok(result):
        print(
            "[bench] some turns were not answered exactly once (see the tables: over capacity, LINE's "
            "25 s reply-token window and webhook time-outs are expected; a doubled reply never is)"
        )
    return 0 if _no_doubles(result) else 1


def _no_doubles(result: dict[str, Any]) -> bool:
    """The exit status fails only on a correctness bug: a turn answered twice."""
    e = result.get("e2e") or {}
    return all(p["check"]["doubled"] == 0 for p in e.get("closed_loop", []) + e.get("open_loop", []))


def _mark_reused(history: Path) -> None:
    lines = history.read_text(encoding="utf-8").splitlines()
    if lines:
        e = json.loads(lines[-1])
        e["training_reused"] = True
        lines[-1] = json.dumps(e, ensure_ascii=False)
        history.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
