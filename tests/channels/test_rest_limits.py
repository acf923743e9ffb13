"""The REST channel against scripts (issue 12, finding 4): rate limits per sender and per client
address, and the token that MADOGUCHI_REST_PUBLIC requires. The balancer's own limit
(nginx limit_req) is tested through nginx in tests/production/test_network_exposure.py."""

from __future__ import annotations

from typing import Any, Optional

import aiohttp
import pytest

from bot.security.ratelimit import Rate, RateLimiter, parse_rate
from channels.common import load_texts
from channels.rest import PseudonymousRestInput
from tests.channels.harness import RasaStub, serve


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_average_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=6, burst=3), clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("a") == pytest.approx(10.0)  # one token every 10 s
    assert limiter.check("b") == 0.0  # another key has its own bucket
    clock.now += 10
    assert limiter.check("a") == 0.0
    assert limiter.check("a") > 0


def test_memory_stays_bounded() -> None:
    limiter = RateLimiter(Rate(60, 1), max_keys=100, clock=Clock())
    for i in range(1000):
        limiter.check(f"k{i}")
    assert len(limiter) == 100


@pytest.mark.parametrize("raw, rate", [("", Rate(20, 10)), ("30", Rate(30, 30)), ("30/5", Rate(30, 5))])
def test_rates_from_the_environment(raw: str, rate: Rate) -> None:
    assert parse_rate(raw, Rate(20, 10)) == rate


@pytest.mark.parametrize("raw", ["0", "fast", "10/0", "-1/3"])
def test_a_typo_does_not_turn_the_limit_off(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(raw, Rate(20, 10))


async def post(
    url: str, sender: str, *, address: Optional[str] = None, token: Optional[str] = None, text: str = "こんにちは"
) -> tuple[int, Any, dict]:
    headers = {}
    if address:
        headers["X-Real-IP"] = address  # what the balancer on this machine sets
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=headers
        ) as resp:
            return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def test_a_script_looping_on_one_sender_is_stopped_and_a_person_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_REST_RATE_SENDER", "6/3")
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        statuses = [(await post(url, "bot-loop", address="10.200.0.7"))[0] for _ in range(5)]
        status, body, headers = await post(url, "bot-loop", address="10.200.0.7")
        other = (await post(url, "a-person", address="10.200.0.8"))[0]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert status == 429 and body["message"] == load_texts()["rest_errors"]["rate_limited"]
    assert int(headers["Retry-After"]) >= 1
    assert other == 200
    assert len(rasa.messages) == 4  # a refused request never reaches Rasa


async def test_one_address_cycling_senders_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_REST_RATE_ADDRESS", "6/4")
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        statuses = [(await post(url, f"fresh-{i}", address="10.200.0.9"))[0] for i in range(6)]
        elsewhere = (await post(url, "fresh-x", address="10.200.0.10"))[0]
    assert statuses == [200] * 4 + [429] * 2
    assert elsewhere == 200


async def test_this_machine_is_not_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_REST_RATE_SENDER", "6/2")
    monkeypatch.setenv("MADOGUCHI_REST_RATE_ADDRESS", "6/2")
    async with serve(PseudonymousRestInput(), RasaStub(), "/webhooks/rest") as url:
        assert [(await post(url, "local"))[0] for _ in range(6)] == [200] * 6


async def test_with_a_token_every_request_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_REST_TOKEN", "rest-token-0123456789abcdef")
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        missing = await post(url, "s")
        wrong = await post(url, "s", token="rest-token-0123456789abcdeX")
        right = await post(url, "s", token="rest-token-0123456789abcdef")
    assert missing[0] == wrong[0] == 401
    assert right[0] == 200 and rasa.texts == ["こんにちは"]
