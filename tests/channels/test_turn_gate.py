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
