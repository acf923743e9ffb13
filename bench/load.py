"""End-to-end load over LINE: simulated users send signed webhook events to the real Rasa and a
fake LINE Messaging API records when each reply (or push) call arrives.

Latency of a turn = from the webhook POST leaving the load generator to the reply call arriving
at the fake LINE API (both measured with the same monotonic clock, in this process).

* :func:`closed_loop` — N users, each sends its next message as soon as the previous reply
  arrived (no think time): saturated turns/s.
* :func:`open_loop` — Poisson arrivals at R turns/s, each arrival the next turn of one of
  hundreds of idle conversations: latency percentiles at a given load.

After each phase every turn is checked: exactly one reply call for its reply token
(a push to the user counts when the token had gone stale), none missing, none doubled.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

import aiohttp
from aiohttp import web

from bench.conversations import Step, pick
from testing.common import cpu_seconds, latency_summary, loadavg, rss_mb

DESTINATION = "Ubench0000000000000000000000000000"


# --- fake LINE Messaging API -----------------------------------------------------------------------
@dataclass
class Arrival:
    at: float
    kind: str  # reply | push
    messages: list[dict[str, Any]]


class FakeLine:
    """Answers like LINE and records reply/push calls with their arrival time (perf_counter)."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Arrival]] = {}
        self.pushes: dict[str, list[Arrival]] = {}
        self.push_keys: dict[str, list[Arrival]] = {}  # X-Line-Retry-Key → pushes
        self.loading_calls = 0
        self.other_calls = 0
        self._waiters: dict[str, asyncio.Future] = {}  # reply token → future
        self._user_waiters: dict[str, asyncio.Future] = {}  # LINE user id → future (push fallback)
        self._runner: Optional[web.AppRunner] = None
        self.port = 0

    async def start(self) -> "FakeLine":
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expect(self, token: str, user_id: str) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._waiters[token] = fut
        self._user_waiters[user_id] = fut
        return fut

    def forget(self, token: str, user_id: str) -> None:
        self._waiters.pop(token, None)
        if user_id in self._user_waiters and self._user_waiters[user_id].done():
            self._user_waiters.pop(user_id, None)

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        path = request.path
        if path == "/v2/bot/message/reply":
            body = await request.json()
            token = body.get("replyToken", "")
            arrival = Arrival(at, "reply", body.get("messages") or [])
            self.replies.setdefault(token, []).append(arrival)
            fut = self._waiters.get(token)
            if fut is not None and not fut.done():
                fut.set_result(arrival)
            return web.json_response({"sentMessages": [{"id": "1", "quoteToken": "q"}]})
        if path == "/v2/bot/message/push":
            body = await request.json()
            to = body.get("to", "")
            arrival = Arrival(at, "push", body.get("messages") or [])
            self.pushes.setdefault(to, []).append(arrival)
            key = request.headers.get("X-Line-Retry-Key")
            if key:
                self.push_keys.setdefault(key, []).append(arrival)
            fut = self._user_waiters.get(to)
            if fut is not None and not fut.done():
                fut.set_result(arrival)
            return web.json_response({"sentMessages": [{"id": "1", "quoteToken": "q"}]})
        if path == "/v2/bot/chat/loading/start":
            self.loading_calls += 1
            return web.json_response({}, status=202)
        self.other_calls += 1
        return web.json_response({})


# --- simulated LINE users --------------------------------------------------------------------------
@dataclass
class Turn:
    user_id: str
    token: str
    event_id: str
    text: str
    sent: float
    done: Optional[float] = None
    kind: Optional[str] = None  # reply | push | None (missing)
    status: int = 0

    @property
    def latency_ms(self) -> Optional[float]:
        return None if self.done is None else (self.done - self.sent) * 1000


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def new_user_id(rng: random.Random) -> str:
    return "U" + "".join(rng.choice("0123456789abcdef") for _ in range(32))


def line_event(
    user_id: str, token: str, event_id: str, *, text: Optional[str] = None, postback: Optional[str] = None
) -> dict[str, Any]:
    """A webhook event in LINE's real shape (message:text or postback)."""
    event: dict[str, Any] = {
        "replyToken": token,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
    }
    if postback is not None:
        event.update(type="postback", postback={"data": postback})
    else:
        event.update(
            type="message",
            message={
                "id": str(random.randrange(10**17, 10**18)),
                "type": "text",
                "text": text or "",
                "quoteToken": uuid.uuid4().hex,
            },
        )
    return event


def quick_postbacks(messages: list[dict[str, Any]]) -> list[str]:
    """The postback data of the quick-reply buttons of a reply (LINE shows them on the last object)."""
    out = []
    for m in messages:
        for item in (m.get("quickReply") or {}).get("items", []):
            action = item.get("action") or {}
            if action.get("type") == "postback" and action.get("data"):
                out.append(action["data"])
    return out


class Client:
    """Posts signed webhook events to one or more Rasa base URLs and waits for the reply."""

    def __init__(
        self,
        fake: FakeLine,
        rasa_urls: list[str],
        secret: str,
        *,
        turn_timeout: float = 60.0,
        pick_url: Optional[Callable[[str, int], str]] = None,
    ) -> None:
        self.fake = fake
        self.urls = rasa_urls
        self.secret = secret
        self.turn_timeout = turn_timeout
        self.pick_url = pick_url or (lambda user_id, n: self.urls[hash(user_id) % len(self.urls)])
        self.session: Optional[aiohttp.ClientSession] = None
        self.turns: list[Turn] = []

    async def __aenter__(self) -> "Client":
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=500), timeout=aiohttp.ClientTimeout(total=30)
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, user_id: str, step: Step, last_reply: list[dict[str, Any]], n: int = 0) -> Turn:
        """One turn: POST the event, wait for the reply call (or push) for it."""
        assert self.session is not None
        text, postback = None, None
        if isinstance(step, dict):
            wanted = f"i={step['button']}"
            postback = next((d for d in quick_postbacks(last_reply) if d.startswith(wanted)), None)
            if postback is None:
                text = step.get("text", "")
        else:
            text = step
        token = uuid.uuid4().hex
        event_id = uuid.uuid4().hex[:26].upper()
        body = json.dumps(
            {
                "destination": DESTINATION,
                "events": [line_event(user_id, token, event_id, text=text, postback=postback)],
            },
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Line-Signature": sign(self.secret, body)}
        fut = self.fake.expect(token, user_id)
        turn = Turn(user_id, token, event_id, text or postback or "", time.perf_counter())
        self.turns.append(turn)
        url = self.pick_url(user_id, n) + "/webhooks/line/webhook"
        try:
            async with self.session.post(url, data=body, headers=headers) as resp:
                turn.status = resp.status
                await resp.read()
            if turn.status != 200:
                return turn
            arrival: Arrival = await asyncio.wait_for(asyncio.shield(fut), self.turn_timeout)
            turn.done, turn.kind = arrival.at, arrival.kind
            turn.reply = arrival.messages
        except (asyncio.TimeoutError, aiohttp.ClientError):
            pass
        finally:
            self.fake.forget(token, user_id)
        return turn


# --- checks ------------------------------------------------------------------------------------------
def deliveries(fake: FakeLine, token: str, event_id: str) -> tuple[int, int]:
    """(reply calls with this reply token, first-part pushes keyed by this event's retry key).

    The connector pushes instead of replying when the token has gone stale (25 s); the push's
    X-Line-Retry-Key is derived from the webhookEventId (channels.line.retry_key_for)."""
    from channels.line import retry_key_for

    return len(fake.replies.get(token, [])), len(fake.push_keys.get(retry_key_for(event_id, 0), []))


def check_turns(fake: FakeLine, turns: list[Turn]) -> dict[str, Any]:
    """Exactly one answer per turn: one reply call (or, once its token went stale, one push)."""
    counts = [deliveries(fake, t.token, t.event_id) for t in turns]
    one_reply = sum(1 for r, p in counts if r == 1 and p == 0)
    pushed = sum(1 for r, p in counts if r == 0 and p == 1)
    doubled = sum(1 for r, p in counts if r + p > 1)
    missing = sum(1 for t, (r, p) in zip(turns, counts) if r + p == 0 and t.status == 200)
    rejected = sum(1 for t in turns if t.status != 200)
    return {
        "turns": len(turns),
        "one_reply": one_reply,
        "doubled": doubled,
        "pushed_instead": pushed,
        "missing": missing,
        "http_errors": rejected,
        "ok": doubled == 0 and missing == 0 and rejected == 0,
    }


async def drain(fake: FakeLine, turns: list[Turn], max_wait: float) -> float:
    """Wait until every turn has had its reply call (even after the per-turn timeout)."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait:
        pending = [t for t in turns if t.status == 200 and sum(deliveries(fake, t.token, t.event_id)) == 0]
        if not pending:
            break
        await asyncio.sleep(0.25)
    return time.perf_counter() - start


class Sampler:
    """Samples RSS (MB) of the given pids every ``every`` seconds; keeps the peak."""

    def __init__(self, pids: dict[str, int], every: float = 0.5) -> None:
        self.pids = pids
        self.every = every
        self.peak: dict[str, float] = {k: 0.0 for k in pids}
        self._task: Optional[asyncio.Task] = None

    async def _run(self) -> None:
        while True:
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))
            await asyncio.sleep(self.every)

    def __enter__(self) -> "Sampler":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task:
            self._task.cancel()


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {k: cpu_seconds(p) for k, p in pids.items()}


def _phase_result(
    turns: list[Turn],
    fake: FakeLine,
    window: tuple[float, float],
    cpu0: dict[str, float],
    cpu1: dict[str, float],
    sampler: Sampler,
    load0: float,
    drained_s: float,
) -> dict[str, Any]:
    lat = [t.latency_ms for t in turns if t.latency_ms is not None]
    in_window = [t for t in turns if t.done is not None and window[0] <= t.done <= window[1]]
    seconds = window[1] - window[0]
    done = sum(1 for t in turns if t.done is not None)
    cpu = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}
    total_cpu = sum(cpu.values())
    return {
        "throughput_tps": round(len(in_window) / seconds, 2) if seconds > 0 else None,
        "latency": latency_summary(lat),
        "check": check_turns(fake, turns),
        "cpu_s": cpu,
        "cpu_ms_per_turn": {k: round(1000 * v / done, 1) for k, v in cpu.items()} if done else {},
        "cpu_bound_tps_per_core": round(done / total_cpu, 1) if total_cpu > 0 else None,
        "rss_peak_mb": dict(sampler.peak),
        "loadavg_1m": [load0, loadavg()],
        "drain_s": round(drained_s, 1),
    }


# --- phases ------------------------------------------------------------------------------------------
async def closed_loop(
    client: Client,
    users: int,
    seconds: float,
    pids: dict[str, int],
    *,
    seed: int = 1,
    warmup: float = 2.0,
    max_drain: float = 90.0,
) -> dict[str, Any]:
    """N users without think time for ``seconds``: saturated turns/s."""
    rng = random.Random(seed)
    fake = client.fake
    first = len(client.turns)
    start = time.perf_counter()
    deadline = start + seconds
    cpu0, load0 = _cpu(pids), loadavg()

    async def user(i: int) -> None:
        urng = random.Random(rng.random())
        while time.perf_counter() < deadline:
            _, steps = pick(urng)
            uid = new_user_id(urng)
            last: list[dict[str, Any]] = []
            for n, step in enumerate(steps):
                if time.perf_counter() >= deadline:
                    return
                turn = await client.send(uid, step, last, n)
                if turn.done is None:
                    break
                last = getattr(turn, "reply", [])

    with Sampler(pids) as sampler:
        await asyncio.gather(*(user(i) for i in range(users)))
        turns = client.turns[first:]
        drained = await drain(fake, turns, max_drain)
    cpu1 = _cpu(pids)
    result = _phase_result(
        turns, fake, (start + min(warmup, seconds / 4), deadline), cpu0, cpu1, sampler, load0, drained
    )
    result.update(users=users, seconds=seconds)
    return result


async def open_loop(
    client: Client,
    rate: float,
    seconds: float,
    pids: dict[str, int],
    *,
    seed: int = 3,
    pool: Optional[int] = None,
    max_drain: float = 120.0,
) -> dict[str, Any]:
    """Poisson arrivals at ``rate`` turns/s over a pool of conversations (each arrival is the next
    turn of an idle conversation; finished conversations are replaced by new users).
    The arrival process has its own seeded generator, independent of the conversation draws."""
    arrivals = random.Random(seed)
    rng = random.Random(seed + 1000)
    fake = client.fake
    first = len(client.turns)
    pool_size = pool or max(30, int(rate * 10))
    convs: list[dict[str, Any]] = []
    conversations_started = 0
    tasks: set[asyncio.Task] = set()
    skipped = 0

    def new_conv() -> dict[str, Any]:
        nonlocal conversations_started
        conversations_started += 1
        _, steps = pick(rng)
        return {"uid": new_user_id(rng), "steps": steps, "i": 0, "busy": False, "last": []}

    async def run_turn(c: dict[str, Any]) -> None:
        turn = await client.send(c["uid"], c["steps"][c["i"]], c["last"], c["i"])
        c["last"] = getattr(turn, "reply", [])
        c["i"] += 1
        c["busy"] = False
        if c["i"] >= len(c["steps"]) or turn.done is None:
            convs.remove(c)

    start = time.perf_counter()
    cpu0, load0 = _cpu(pids), loadavg()
    with Sampler(pids) as sampler:
        t_next = start
        while True:
            t_next += arrivals.expovariate(rate)
            if t_next - start >= seconds:
                break
            delay = t_next - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            idle = [c for c in convs if not c["busy"]]
            if len(convs) < pool_size or not idle:
                if len(convs) >= pool_size * 3:
                    skipped += 1  # every conversation is waiting for a reply: overloaded
                    continue
                c = new_conv()
                convs.append(c)
            else:
                c = rng.choice(idle)
            c["busy"] = True
            task = asyncio.get_running_loop().create_task(run_turn(c))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        end = start + seconds
        if tasks:
            await asyncio.wait(list(tasks), timeout=client.turn_timeout + 5)
        turns = client.turns[first:]
        drained = await drain(fake, turns, max_drain)
    cpu1 = _cpu(pids)
    result = _phase_result(turns, fake, (start, end), cpu0, cpu1, sampler, load0, drained)
    # Offered vs achieved: turns answered per second over the whole phase incl. drain.
    done_at = [t.done for t in turns if t.done is not None]
    span = (max(done_at) - start) if done_at else seconds
    result.update(
        rate=rate,
        seconds=seconds,
        offered=len(turns),
        offered_tps=round(len(turns) / seconds, 2),
        conversations=conversations_started,
        arrivals_dropped=skipped,
        achieved_tps=round(len(done_at) / max(span, seconds), 2),
    )
    return result
