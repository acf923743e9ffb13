"""Endurance run (`make soak`): many turns from many simulated LINE users through the real stack.

    python -m bench.soak                          # 10,000 turns from 200 users (about an hour on 2 cores)
    python -m bench.soak --turns 1000 --users 200 # the reduced run
    python -m bench.soak --rate 4                 # offered load in turns/s (default 3)
    Ctrl-C stops sending early; what was sent is still checked and written.

Starts its own stack (action server + Rasa with the LINE channel on free 127.0.0.1 ports, SQLite
in a temporary directory) and a fake LINE Messaging API in this process. Each simulated user
plays the conversations of `bench.conversations` (intake, recommendation, callback booking,
crisis, FAQ…) one after another, with exponential think time so the offered load stays at
``--rate`` turns/s (and at most ``--max-inflight`` turns in the stack at once, so that a busy
machine slows the run down instead of piling up minutes of queue); quick-reply buttons are
tapped as postbacks, as on LINE.

Checked at the end, and the exit status says whether all of it held:
  * every turn answered exactly once (one reply call for its token, or one push once the token
    went stale), none missing, none doubled, no webhook error;
  * VmRSS (/proc/<pid>/status, process and children) of Rasa and of the action server, sampled
    every ``--sample-every`` seconds, flat within ``--max-drift`` (10 %) after warm-up
    (the first ``--warmup`` share of the turns): the median of the last samples against the
    median of the first samples after warm-up, and the peak against the same baseline;
  * no ERROR line and no traceback in either log.

Prints the figures and writes bench/results/soak-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.conversations import pick
from bench.load import Client, FakeLine, Turn, check_turns, drain, new_user_id
from bench.stack import LINE_SECRET, BenchStack
from testing.common import RESULTS, git_rev, latency_summary, loadavg, machine, newest_model, rss_mb

RASA_START_TIMEOUT = 900.0


class SoakStack(BenchStack):
    """The bench stack with more patience at start-up (the machine is shared) and the outbox
    pointed at this Rasa."""

    rasa_start_timeout = RASA_START_TIMEOUT


class FaithfulFakeLine(FakeLine):
    """`bench.load.FakeLine`, but deduplicating as LINE does: a reply token works once (a retry
    after a client-side timeout gets 400 "Invalid reply token"), and a push whose
    X-Line-Retry-Key was already accepted gets 409. Neither counts as a second answer."""

    def __init__(self) -> None:
        super().__init__()
        self.reused_tokens = 0
        self.repeated_retry_keys = 0

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        if request.path == "/v2/bot/message/reply":
            body = await request.json()
            if body.get("replyToken", "") in self.replies:
                self.reused_tokens += 1
                return web.json_response({"message": "Invalid reply token"}, status=400)
            request = _Replay(request, body)
        elif request.path == "/v2/bot/message/push":
            key = request.headers.get("X-Line-Retry-Key")
            if key and key in self.push_keys:
                self.repeated_retry_keys += 1
                return web.json_response({"message": "The retry key is already accepted"}, status=409)
        return await super()._handle(request)


class _Replay:
    """The request again, with its JSON body already read."""

    def __init__(self, request: Any, body: Any) -> None:
        self._request, self._body = request, body
        self.path, self.headers = request.path, request.headers

    async def json(self) -> Any:
        return self._body


class MemorySampler:
    """RSS of each process every ``every`` seconds, with the number of turns sent so far."""

    def __init__(self, pids: Dict[str, int], every: float, progress: Any) -> None:
        self.pids = pids
        self.every = every
        self.progress = progress
        self.samples: List[Dict[str, Any]] = []
        self._task: Optional[asyncio.Task] = None
        self.t0 = time.monotonic()

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    def sample(self) -> None:
        self.samples.append(
            {
                "t": round(time.monotonic() - self.t0, 1),
                "turns": self.progress(),
                **{name: rss_mb(pid) for name, pid in self.pids.items()},
            }
        )

    def __enter__(self) -> "MemorySampler":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task:
            self._task.cancel()
        self.sample()


def memory_verdict(
    samples: List[Dict[str, Any]], names: List[str], warm_turns: int, max_drift: float
) -> Dict[str, Any]:
    """Compare memory after warm-up: baseline = median of the first 3 samples after warm-up,
    end = median of the last 3 samples, peak = max after warm-up."""
    after = [s for s in samples if s["turns"] >= warm_turns]
    out: Dict[str, Any] = {"warmup_turns": warm_turns, "samples_after_warmup": len(after), "max_drift": max_drift}
    ok = len(after) >= 4
    for name in names:
        if len(after) < 4:
            out[name] = {"note": "too few samples after warm-up (run longer or sample more often)"}
            continue
        base = statistics.median(s[name] for s in after[:3])
        end = statistics.median(s[name] for s in after[-3:])
        peak = max(s[name] for s in after)
        drift = (end - base) / base if base else 0.0
        peak_drift = (peak - base) / base if base else 0.0
        flat = abs(drift) <= max_drift and peak_drift <= max_drift
        ok = ok and flat
        out[name] = {
            "start_mb": samples[0][name],
            "baseline_mb": round(base, 1),
            "end_mb": round(end, 1),
            "peak_mb": round(peak, 1),
            "drift_pct": round(100 * drift, 2),
            "peak_over_baseline_pct": round(100 * peak_drift, 2),
            "flat": flat,
        }
    out["ok"] = ok
    return out


def log_problems(path: Path) -> List[str]:
    if not path.exists():
        return []
    return [
        line[:300]
        for line in path.read_text("utf-8", "replace").splitlines()
        if " ERROR " in line or line.startswith("Traceback") or " CRITICAL " in line
    ]


async def run_users(
    client: Client,
    users: int,
    turns: int,
    rate: float,
    seed: int,
    report_every: float,
    max_inflight: int,
    budget: Dict[str, int],
) -> Dict[str, Any]:
    """``users`` simulated people, ``turns`` turns in all, at about ``rate`` turns/s offered and
    at most ``max_inflight`` turns in the stack at once (beyond that a person waits before
    sending, as the stack would make them wait anyway). ``budget["left"] = 0`` stops early."""
    budget["left"] = turns
    gate = asyncio.Semaphore(max_inflight)
    finished = asyncio.Event()  # the budget is spent: nobody keeps thinking

    async def think(seconds: float) -> None:
        try:
            await asyncio.wait_for(finished.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    think_mean = users / rate  # each user's mean pause, so that the users together offer `rate`
    rng = random.Random(seed)
    started = time.monotonic()
    conversations: Dict[str, int] = {}

    async def user(i: int) -> None:
        urng = random.Random(rng.random())
        await think(urng.uniform(0, think_mean))  # stagger the start
        while budget["left"] > 0:
            name, steps = pick(urng)
            conversations[name] = conversations.get(name, 0) + 1
            uid = new_user_id(urng)
            last: List[Dict[str, Any]] = []
            for n, step in enumerate(steps):
                if budget["left"] <= 0:
                    finished.set()
                    return
                budget["left"] -= 1
                async with gate:
                    turn = await client.send(uid, step, last, n)
                if turn.done is None:
                    break  # no answer in time: this person gives up (the check below still counts it)
                last = getattr(turn, "reply", [])
                if budget["left"] <= 0:
                    finished.set()
                    return
                await think(urng.expovariate(1.0 / think_mean))

    async def progress() -> None:
        while True:
            await asyncio.sleep(report_every)
            done = sum(1 for t in client.turns if t.done is not None)
            elapsed = time.monotonic() - started
            print(
                f"  {elapsed:6.0f} s  {len(client.turns):6d} sent  {done:6d} answered  "
                f"{len(client.turns) / elapsed:5.2f} turns/s  load {loadavg():.1f}",
                flush=True,
            )

    reporter = asyncio.get_running_loop().create_task(progress())
    try:
        await asyncio.gather(*(user(i) for i in range(users)))
    finally:
        reporter.cancel()
    return {"seconds": round(time.monotonic() - started, 1), "conversations": conversations}


async def soak(args: argparse.Namespace) -> Dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="madoguchi-soak-"))
    fake = await FaithfulFakeLine().start()
    stack = SoakStack(
        workdir=workdir, model=Path(args.model) if args.model else newest_model(), line_api_url=fake.base_url
    )
    stack.extra_env.update(MADOGUCHI_RASA_URL=stack.rasa_url, PYTHONUNBUFFERED="1")
    stack.extra_env.update(dict(kv.split("=", 1) for kv in args.env))
    result: Dict[str, Any] = {
        "kind": "soak",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_rev(),
        "machine": machine(),
        "model": stack.model.name,
        "params": {
            "turns": args.turns,
            "users": args.users,
            "rate": args.rate,
            "max_inflight": args.max_inflight,
            "sample_every_s": args.sample_every,
            "warmup": args.warmup,
            "max_drift": args.max_drift,
            "seed": args.seed,
            "env": args.env,
        },
    }
    try:
        print(f"starting the stack in {workdir} …", flush=True)
        await asyncio.to_thread(stack.start_actions)
        await asyncio.to_thread(stack.start_rasa)
        result["cold_start_s"] = dict(stack.cold_start)
        pids = {"rasa": stack.pid("rasa"), "actions": stack.pid("actions")}
        print(
            f"up (Rasa {stack.cold_start.get('rasa_s')} s); {args.turns} turns from {args.users} users "
            f"at ~{args.rate} turns/s",
            flush=True,
        )
        async with Client(fake, [stack.rasa_url], LINE_SECRET, turn_timeout=args.turn_timeout) as client:
            budget: Dict[str, int] = {}
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C: stop sending, check what was sent
                loop.add_signal_handler(
                    sig, lambda: (budget.__setitem__("left", 0), print("stopping early …", flush=True))
                )
            with MemorySampler(pids, args.sample_every, lambda: len(client.turns)) as sampler:
                result["run"] = await run_users(
                    client, args.users, args.turns, args.rate, args.seed, args.report_every, args.max_inflight, budget
                )
                result["drain_s"] = round(await drain(fake, client.turns, 180), 1)
            turns: List[Turn] = client.turns
        result["turns"] = check_turns(fake, turns)
        result["turns"]["reply_token_reused"] = fake.reused_tokens
        result["turns"]["retry_key_repeated"] = fake.repeated_retry_keys
        result["latency"] = latency_summary(t.latency_ms for t in turns if t.latency_ms is not None)
        result["throughput_tps"] = round(len(turns) / result["run"]["seconds"], 2)
        result["memory"] = memory_verdict(sampler.samples, list(pids), int(args.turns * args.warmup), args.max_drift)
        result["memory"]["samples"] = sampler.samples
    finally:
        await asyncio.to_thread(stack.stop_all)
        await fake.close()
        # Read the logs only now: the processes flush what they buffered when they exit.
        problems = {name: log_problems(workdir / name) for name in ("rasa.log", "actions.log")}
        result["log_errors"] = {name: len(lines) for name, lines in problems.items()}
        result["log_error_examples"] = {name: lines[:5] for name, lines in problems.items() if lines}
        result["ok"] = bool(
            "turns" in result
            and result["turns"]["ok"]
            and result["memory"]["ok"]
            and not any(result["log_errors"].values())
        )
        if args.keep:
            result["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def print_figures(r: Dict[str, Any]) -> None:
    t, m, lat = r["turns"], r["memory"], r["latency"]
    print("\n== soak")
    print(
        f"turns: {t['turns']} sent, {t['one_reply']} replied once, {t['pushed_instead']} pushed once "
        f"(token stale), {t['doubled']} doubled, {t['missing']} missing, {t['http_errors']} webhook errors "
        f"({t['reply_token_reused']} retried replies and {t['retry_key_repeated']} repeated pushes refused, "
        f"as LINE would)"
    )
    print(
        f"throughput {r['throughput_tps']} turns/s over {r['run']['seconds']} s; latency p50 {lat['p50_ms']} ms, "
        f"p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms"
    )
    print(f"conversations: {r['run']['conversations']}")
    for name in ("rasa", "actions"):
        v = m.get(name, {})
        if "baseline_mb" in v:
            print(
                f"RSS {name:8s} start {v['start_mb']} MB, after warm-up {v['baseline_mb']} MB, end {v['end_mb']} MB, "
                f"peak {v['peak_mb']} MB: drift {v['drift_pct']:+.2f} %, peak {v['peak_over_baseline_pct']:+.2f} % "
                f"→ {'flat' if v['flat'] else 'NOT FLAT'}"
            )
        else:
            print(f"RSS {name}: {v.get('note')}")
    print(f"log ERROR/traceback lines: {r['log_errors']}")
    for name, lines in r.get("log_error_examples", {}).items():
        for line in lines:
            print(f"  {name}: {line}")
    print(f"verdict: {'OK' if r['ok'] else 'FAILED'}")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--turns", type=int, default=10_000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rate", type=float, default=3.0, help="offered load, turns/s (default 3)")
    p.add_argument(
        "--max-inflight",
        type=int,
        default=8,
        help="turns in the stack at once at most (default 8; keeps latency below LINE's 25 s token)",
    )
    p.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--warmup", type=float, default=0.2, help="share of the turns counted as warm-up")
    p.add_argument("--max-drift", type=float, default=0.10, help="allowed RSS change after warm-up (0.10 = 10 %%)")
    p.add_argument("--turn-timeout", type=float, default=90.0, help="seconds a user waits for an answer")
    p.add_argument("--report-every", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for both processes (repeatable), e.g. SANIC_KEEP_ALIVE_TIMEOUT=75",
    )
    p.add_argument("--model", default="")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    p.add_argument("--out", default="", help="result file (default bench/results/soak-<timestamp>.json)")
    args = p.parse_args(argv)
    if args.turns < 1 or args.users < 1 or args.rate <= 0 or args.max_inflight < 1:
        p.error("--turns, --users, --rate and --max-inflight must be positive")
    if any("=" not in kv for kv in args.env):
        p.error("--env takes KEY=VALUE")
    result = asyncio.run(soak(args))
    print_figures(result)
    out = Path(args.out) if args.out else RESULTS / f"soak-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"written: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
