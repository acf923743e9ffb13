"""deploy.lock_store.AtomicRedisLockStore against the local Redis: mutual exclusion, FIFO per
process, heartbeat (slow turns and long queues never expire), dead holders expire, a lost cancel
never hangs a turn, waits are bounded and end in the "try again" reply.

Stress proof (docs/reliability.md): LOCK_STRESS=500 runs every test of this file 500 times."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import pytest

from testing.cluster import ServicesMissing, redis_client

pytestmark = pytest.mark.redis


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runs = int(os.environ.get("LOCK_STRESS", "1"))
    if runs > 1 and "repetition" in metafunc.fixturenames:
        metafunc.parametrize("repetition", range(runs))


@pytest.fixture
def repetition() -> int:
    return 0


@pytest.fixture
def store(repetition: int):
    try:
        red = redis_client()
    except ServicesMissing as exc:
        pytest.fail(str(exc))
    from deploy.lock_store import AtomicRedisLockStore

    prefix = f"lt{uuid.uuid4().hex[:10]}"
    yield AtomicRedisLockStore(host="127.0.0.1", port=6379, db=1, key_prefix=prefix, poll_interval=0.005)
    for key in red.scan_iter(f"{prefix}:*"):
        red.delete(key)


async def test_turns_of_one_conversation_never_overlap_and_keep_arrival_order(store) -> None:
    inside, order, overlaps = set(), [], []

    async def turn(n: int) -> None:
        async with store.lock("conv"):
            if inside:
                overlaps.append(n)
            inside.add(n)
            order.append(n)
            await asyncio.sleep(0.01)
            inside.discard(n)

    await asyncio.gather(*(turn(n) for n in range(10)))
    assert overlaps == [] and order == list(range(10))


async def test_two_stores_like_two_replicas_exclude_each_other(store) -> None:
    from deploy.lock_store import AtomicRedisLockStore

    other = AtomicRedisLockStore(
        host="127.0.0.1", port=6379, db=1, key_prefix=store.key_prefix.split(":")[0], poll_interval=0.005
    )
    inside, overlaps = set(), []

    async def turn(s, n: int) -> None:
        async with s.lock("shared"):
            if inside:
                overlaps.append(n)
            inside.add(n)
            await asyncio.sleep(0.005)
            inside.discard(n)

    await asyncio.gather(*(turn(store if n % 2 else other, n) for n in range(20)))
    assert overlaps == []


async def test_a_queue_longer_than_the_lifetime_does_not_expire_waiting_tickets(store) -> None:
    order = []

    async def turn(n: int) -> None:
        async with store.lock("slow", lock_lifetime=1.0):
            order.append(n)
            await asyncio.sleep(0.22)  # 5 turns = 1.1 s of queue, lifetime 1 s

    await asyncio.gather(*(turn(n) for n in range(5)))
    assert order == list(range(5))


async def test_a_dead_holder_stops_blocking_after_the_lifetime(store) -> None:
    t0 = time.monotonic()
    await store._issue("dead", 0.3)  # issued, never released, no heartbeat: the replica died
    async with store.lock("dead", lock_lifetime=5):
        waited = time.monotonic() - t0
    assert 0.25 < waited < 3


async def test_four_replicas_with_bursts_never_overlap(store) -> None:
    """Four stores (as four replicas) issue tickets for one conversation all at once, turns of
    random length: never two holders."""
    import random

    from deploy.lock_store import AtomicRedisLockStore

    prefix = store.key_prefix.split(":")[0]
    replicas = [store] + [
        AtomicRedisLockStore(host="127.0.0.1", port=6379, db=1, key_prefix=prefix, poll_interval=0.002)
        for _ in range(3)
    ]
    rng = random.Random(5)
    holders, overlaps, done = [0], [], []

    async def turn(n: int) -> None:
        await asyncio.sleep(rng.random() * 0.01)
        async with replicas[n % 4].lock("burst"):
            holders[0] += 1
            if holders[0] > 1:
                overlaps.append(n)
            await asyncio.sleep(rng.random() * 0.004)
            holders[0] -= 1
            done.append(n)

    await asyncio.gather(*(turn(n) for n in range(40)))
    assert overlaps == [] and sorted(done) == list(range(40))


class _DeafTask(asyncio.Task):
    """A task that loses the lock store's cancel(), as redis-py 4.6 on Python 3.10 does when the
    cancel lands while a command fetches a pooled connection or flushes (docs/reliability.md,
    issue 10). redis-py's own timeouts (which cancel too) still work."""

    def cancel(self, msg=None) -> bool:
        if sys._getframe(1).f_code.co_filename.endswith("lock_store.py"):
            return True
        return super().cancel(msg)


async def test_turns_end_even_when_a_cancel_is_lost_inside_redis_py(store) -> None:
    """The hang of issue 10: the heartbeat task must stop without relying on Task.cancel()."""
    loop = asyncio.get_running_loop()

    def factory(loop: asyncio.AbstractEventLoop, coro):  # every heartbeat is deaf to cancel
        deaf = getattr(coro, "__qualname__", "").endswith("_heartbeat")
        return (_DeafTask if deaf else asyncio.Task)(coro, loop=loop)

    loop.set_task_factory(factory)
    try:
        order = []

        async def turn(n: int) -> None:
            async with store.lock("deaf"):
                order.append(n)
                await asyncio.sleep(0.01)

        await asyncio.wait_for(asyncio.gather(*(turn(n) for n in range(3))), 10)
    finally:
        loop.set_task_factory(None)
    assert order == [0, 1, 2]
    left = [k async for k in store.red.scan_iter(f"{store.key_prefix}deaf:*") if not k.endswith(b":seq")]
    assert left == []  # every ticket released


async def test_a_waiter_behind_a_stuck_holder_gives_up_in_bounded_time_and_leaves_the_queue(store) -> None:
    from rasa.core.lock_store import LockError

    store.max_wait = 0.5
    holding, release = asyncio.Event(), asyncio.Event()

    async def stuck_holder() -> None:  # alive (heartbeat) but never finishing on its own
        async with store.lock("stuck"):
            holding.set()
            await release.wait()

    holder = asyncio.get_running_loop().create_task(stuck_holder())
    await holding.wait()
    t0 = time.monotonic()
    with pytest.raises(LockError):
        async with store.lock("stuck"):
            pytest.fail("two holders at once")
    assert 0.4 < time.monotonic() - t0 < 5
    queue = await store.red.zrange(store._queue("stuck"), 0, -1)
    assert len(queue) == 1  # only the holder's ticket: the waiter left no trace
    release.set()
    await holder
    async with store.lock("stuck"):  # the conversation goes on at once
        pass


async def test_a_message_that_cannot_get_the_lock_gets_the_try_again_reply_and_nothing_half_happens(store) -> None:
    """Rasa's Agent.handle_message with this lock store, behind the REST connector: while a
    turn of the same person holds the lock past max_wait, the next message is answered with
    channels/texts.yml's ``unavailable`` text, never reaches the dialogue, and the person's next
    message is handled normally."""
    import aiohttp
    from rasa.core.agent import Agent

    from bot.security.pseudonym import pseudonymize
    from channels.fallback import unavailable_text
    from channels.rest import PseudonymousRestInput
    from tests.channels.harness import serve

    handled: list[str] = []

    class Processor:  # the dialogue: records what reached it and answers
        async def handle_message(self, message):
            handled.append(message.text)
            await message.output_channel.send_response(message.sender_id, {"text": f"echo:{message.text}"})

    agent = Agent(lock_store=store)
    agent.processor = Processor()
    agent.tracker_store = object()  # is_ready(): only the processor is used here
    store.max_wait = 0.5
    sender = pseudonymize("rest", "tryagain")
    release, holding = asyncio.Event(), asyncio.Event()

    async def other_turn() -> None:  # e.g. the same person's slow turn on the other replica
        async with store.lock(sender):
            holding.set()
            await release.wait()

    async with (
        serve(PseudonymousRestInput(), agent.handle_message, "/webhooks/rest") as url,
        aiohttp.ClientSession() as session,
    ):

        async def say(text: str) -> list:
            async with session.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": "tryagain", "message": text},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                assert resp.status == 200
                return await resp.json()

        holder = asyncio.get_running_loop().create_task(other_turn())
        await holding.wait()
        reply = await say("一通目")
        assert [m.get("text") for m in reply] == [unavailable_text()]
        assert handled == []
        release.set()
        await holder
        assert [m.get("text") for m in await say("二通目")] == ["echo:二通目"]
        assert handled == ["二通目"]
