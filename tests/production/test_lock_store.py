"""deploy.lock_store.AtomicRedisLockStore against the local Redis: mutual exclusion, FIFO per
process, heartbeat (slow turns and long queues never expire), dead holders expire."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from bench.cluster import ServicesMissing, redis_client

pytestmark = pytest.mark.redis


@pytest.fixture
def store():
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

    other = AtomicRedisLockStore(host="127.0.0.1", port=6379, db=1,
                                 key_prefix=store.key_prefix.split(":")[0], poll_interval=0.005)
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
        async with store.lock("slow", lock_lifetime=0.2):
            order.append(n)
            await asyncio.sleep(0.15)  # 5 turns = 0.75 s of queue, lifetime 0.2 s

    await asyncio.gather(*(turn(n) for n in range(5)))
    assert order == list(range(5))


async def test_a_dead_holder_stops_blocking_after_the_lifetime(store) -> None:
    await store._issue("dead", 0.3)  # issued, never released, no heartbeat: the replica died
    t0 = time.monotonic()
    async with store.lock("dead", lock_lifetime=0.3):
        waited = time.monotonic() - t0
    assert 0.2 < waited < 3


async def test_four_replicas_with_bursts_never_overlap(store) -> None:
    """Four stores (as four replicas) issue tickets for one conversation all at once, turns of
    random length: never two holders."""
    import random

    from deploy.lock_store import AtomicRedisLockStore

    prefix = store.key_prefix.split(":")[0]
    replicas = [store] + [AtomicRedisLockStore(host="127.0.0.1", port=6379, db=1, key_prefix=prefix,
                                               poll_interval=0.002) for _ in range(3)]
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
