"""The process-wide cap on concurrent Rasa turns (channels.common.TurnGate, P5b)."""

from __future__ import annotations

import asyncio

import pytest

from channels.common import SenderQueue, TurnGate, max_turns


class _Probe:
    """Jobs that record how many of them run at once, and in which order they start."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[str] = []
        self.release = asyncio.Event()

    def job(self, name: str, fail: bool = False):
        async def run() -> str:
            self.started.append(name)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await self.release.wait()
                if fail:
                    raise RuntimeError("turn failed")
                return name
            finally:
                self.running -= 1

        return run


async def test_turns_beyond_the_cap_wait_and_then_all_finish() -> None:
    gate, probe = TurnGate(limit=2), _Probe()
    tasks = [asyncio.create_task(gate.run(probe.job(f"t{i}"))) for i in range(5)]
    await asyncio.sleep(0.05)
    assert probe.running == 2 and gate.waiting == 3
    probe.release.set()
    assert await asyncio.gather(*tasks) == [f"t{i}" for i in range(5)]
    assert probe.peak == 2 and probe.started == [f"t{i}" for i in range(5)]


async def test_a_failing_turn_gives_its_slot_back() -> None:
    gate, probe = TurnGate(limit=1), _Probe()
    probe.release.set()
    with pytest.raises(RuntimeError):
        await gate.run(probe.job("bad", fail=True))
    assert await asyncio.wait_for(gate.run(probe.job("next")), 2) == "next"


async def test_zero_means_no_cap() -> None:
    gate, probe = TurnGate(limit=0), _Probe()
    tasks = [asyncio.create_task(gate.run(probe.job(f"t{i}"))) for i in range(20)]
    await asyncio.sleep(0.05)
    assert probe.running == 20
    probe.release.set()
    await asyncio.gather(*tasks)


async def test_one_persons_messages_stay_in_order_under_the_cap() -> None:
    queue, probe = SenderQueue(gate=TurnGate(limit=2)), _Probe()
    for i in range(3):
        for person in ("a", "b", "c"):
            queue.submit(person, probe.job(f"{person}{i}"))
    await asyncio.sleep(0.05)
    assert probe.running == 2
    probe.release.set()
    await asyncio.wait_for(queue.drain(), 5)
    assert probe.peak == 2
    for person in ("a", "b", "c"):
        assert [s for s in probe.started if s[0] == person] == [f"{person}0", f"{person}1", f"{person}2"]


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_MAX_TURNS", "3")
    assert max_turns() == 3 and TurnGate().limit == 3
    monkeypatch.setenv("MADOGUCHI_MAX_TURNS", "many")
    assert max_turns() == 8
    monkeypatch.delenv("MADOGUCHI_MAX_TURNS")
    assert max_turns() == 8


def test_a_new_event_loop_never_gets_a_finished_loops_semaphore(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop that ends with its slot still taken (its turn never finished) must not leave that
    semaphore to the next loop, even when the new loop gets the old one's id (CPython reuses the
    address of a freed object; every id() here returns the same number to make that certain)."""
    import channels.common

    monkeypatch.setattr(channels.common, "id", lambda obj: 1, raising=False)
    gate = TurnGate(limit=1)
    never = asyncio.Event()

    async def stuck_turn() -> None:
        await gate.run(never.wait)

    old = asyncio.new_event_loop()
    stuck = old.create_task(stuck_turn())
    old.run_until_complete(asyncio.sleep(0.01))
    assert gate.waiting == 0 and not stuck.done()  # it holds the only slot
    old.close()

    async def next_turn() -> str:
        return await asyncio.wait_for(gate.run(lambda: asyncio.sleep(0, "answered")), 2)

    assert asyncio.run(next_turn()) == "answered"
