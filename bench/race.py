"""Does RasaHQ/rasa#9213 bite here? Simultaneous messages of one person on two Rasa replicas.

    python -m bench.race [--lock-stores stock,atomic] [--users 20] [--messages 5] [--rounds 2]

For each lock store, the two-instance setup (deploy/run_two_instances.sh, PostgreSQL tracker
store, fresh database) is started; each of ``users`` people sends ``messages`` REST messages at
(nearly) the same moment — 10 ms apart, alternately to replica 1 and 2. Then the PostgreSQL
tracker is read back per person:

* lost      — fewer user messages stored than sent;
* doubled   — a stored event twice;
* interleaved — a user message stored before the previous turn ended with action_listen
  (two replicas worked on one conversation at once);
* reordered — stored order differs from send order (informational: without sticky routing the
  arrival order across replicas is not defined anyway);
* lock errors — "LockError"/"Could not acquire lock" in the Rasa logs (the message was dropped and
  the person got the apology).

``stock`` is Rasa's RedisLockStore (type: redis), ``atomic`` deploy.lock_store.AtomicRedisLockStore.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp

from testing.cluster import Cluster, two_instances
from testing.common import RESULTS, ROOT, newest_model

SCRIPT = [
    "こんにちは",
    "母です",
    "４５歳です",
    "大学を中退してから二十年近く部屋から出てきません",
    "居場所",
    "ありがとうございました",
    "やめます",
    "最初から",
]


def endpoints_for(kind: str, out: Path) -> Path:
    text = (ROOT / "deploy" / "endpoints.production.yml").read_text(encoding="utf-8")
    if kind == "stock":
        text = text.replace("type: deploy.lock_store.AtomicRedisLockStore", "type: redis")
    elif kind != "atomic":
        raise ValueError(kind)
    out.write_text(text, encoding="utf-8")
    return out


def sender_id(cluster: Cluster, channel: str, platform_id: str) -> str:
    key = cluster.env["MADOGUCHI_SENDER_KEY"].encode()
    return f"{channel}-{hmac.new(key, f'{channel}:{platform_id}'.encode(), hashlib.sha256).hexdigest()[:32]}"


def anomalies(events: list[dict[str, Any]], sent: list[str]) -> dict[str, int]:
    users = [e.get("text") for e in events if e["_type"] == "user"]
    dup = sum(
        n - 1
        for n in Counter((e["_type"], e.get("timestamp"), e.get("name"), e.get("text")) for e in events).values()
        if n > 1
    )
    interleaved = 0
    last_action: Optional[str] = None
    seen_user = False
    actions = 0
    for e in events:
        if e["_type"] == "user":
            if seen_user and not (actions > 0 and last_action == "action_listen"):
                interleaved += 1
            seen_user, actions = True, 0
        elif e["_type"] == "action":
            last_action = e.get("name")
            actions += 1
    if seen_user and last_action != "action_listen":
        interleaved += 1
    lost = sum((Counter(sent) - Counter(users)).values())
    return {"lost": lost, "doubled": dup, "interleaved": interleaved, "reordered": int(users != sent and not lost)}


def events_of(cluster: Cluster, sid: str) -> list[dict[str, Any]]:
    return cluster.events(sid)


async def burst(cluster: Cluster, tag: str, users: int, messages: int, gap: float) -> dict[str, Any]:
    texts = SCRIPT[:messages]
    statuses: Counter = Counter()
    lat: list[float] = []

    async def one(i: int, session: aiohttp.ClientSession) -> None:
        async def send(n: int, text: str) -> None:
            await asyncio.sleep(n * gap)
            t0 = time.perf_counter()
            try:
                async with session.post(
                    f"{cluster.rasa_urls[n % 2]}/webhooks/rest/webhook", json={"sender": f"{tag}-{i}", "message": text}
                ) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                statuses["error"] += 1
            lat.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(send(n, t) for n, t in enumerate(texts)))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await asyncio.gather(*(one(i, session) for i in range(users)))
    totals: Counter = Counter()
    affected = 0
    for i in range(users):
        a = anomalies(events_of(cluster, sender_id(cluster, "rest", f"{tag}-{i}")), texts)
        totals.update(a)
        affected += int(a["lost"] or a["doubled"] or a["interleaved"])
    lat.sort()
    return {
        "users": users,
        "messages": messages,
        "gap_s": gap,
        "http": dict(statuses),
        **dict(totals),
        "people_affected": affected,
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "max_ms": round(lat[-1], 1) if lat else None,
    }


def run(kind: str, users: int, messages: int, rounds: int, gap: float) -> dict[str, Any]:
    model = newest_model()
    with tempfile.TemporaryDirectory(prefix="race-") as tmp:
        endpoints = endpoints_for(kind, Path(tmp) / "endpoints.yml")
        print(f"[race] {kind}: starting two replicas …", flush=True)
        with two_instances(model, routing="round_robin", endpoints=endpoints) as cluster:
            out: dict[str, Any] = {"lock_store": kind, "startup_s": cluster.started_s, "rounds": []}
            for r in range(rounds):
                res = cluster.loop.run(burst(cluster, f"{kind}{r}", users, messages, gap))
                out["rounds"].append(res)
                print(f"[race] {kind} round {r + 1}: {res}", flush=True)
            out["lock_errors"] = len(cluster.logs("LockError")) + len(cluster.logs("Could not acquire lock"))
            out["tracker_fallbacks"] = len(cluster.logs("Falling back to use"))
            return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock-stores", default="stock,atomic")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--messages", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--gap", type=float, default=0.01, help="seconds between one person's messages")
    args = ap.parse_args(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"race-{stamp}.json"
    results: list[dict[str, Any]] = []
    for kind in [k for k in args.lock_stores.split(",") if k]:
        try:
            results.append(run(kind, args.users, args.messages, args.rounds, args.gap))
        except Exception as exc:  # keep what was measured so far
            results.append(
                {
                    "lock_store": kind,
                    "error": f"{type(exc).__name__}: {str(exc)[:500]}",
                    "rounds": [],
                    "lock_errors": None,
                }
            )
        path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(
        "\n| lock store | messages | lost | doubled | interleaved | reordered | people affected | lock errors | HTTP |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r.get("error"):
            print(f"| {r['lock_store']} | failed: {r['error'][:80]} |")
            continue
        t = Counter()
        for rd in r["rounds"]:
            t.update({k: rd[k] for k in ("lost", "doubled", "interleaved", "reordered", "people_affected")})
        n = sum(rd["users"] * rd["messages"] for rd in r["rounds"])
        http = Counter()
        for rd in r["rounds"]:
            http.update(rd["http"])
        print(
            f"| {r['lock_store']} | {n} | {t['lost']} | {t['doubled']} | {t['interleaved']} | {t['reordered']} | "
            f"{t['people_affected']} | {r['lock_errors']} | {dict(http)} |"
        )
    print(f"\n[race] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
