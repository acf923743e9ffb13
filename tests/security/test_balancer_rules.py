"""The balancer's rules (deploy/nginx.conf.template) seen from another machine (issue 12,
findings 1 and 4; issue 21, H-2 and M-10): nginx from the template, a recording stand-in for the
replicas, clients in network namespaces, and a TLS terminator on this machine in front. The same
against the real two-replica setup: tests/production/test_network_exposure.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from deploy import nginx
from tests.security.balancer import Balancer, Terminator, balancer, tls_terminator
from tests.security.outside import AnotherMachine, another_machine

pytestmark = pytest.mark.nginx  # starts nginx from deploy/nginx.conf.template

REST = json.dumps({"sender": "someone", "message": "こんにちは"}).encode()
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def other() -> Iterator[AnotherMachine]:
    with another_machine() as machine:
        yield machine


@pytest.fixture(scope="module")
def third() -> Iterator[AnotherMachine]:
    """A second client on yet another address."""
    with another_machine() as machine:
        yield machine


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[Balancer]:
    with balancer(tmp_path) as lb:
        yield lb


@pytest.fixture
def public_rest(tmp_path: Path) -> Iterator[Balancer]:
    with balancer(tmp_path, rest_public="1") as lb:
        yield lb


def url(other: AnotherMachine, lb: Balancer, path: str) -> str:
    return f"http://{other.host_address}:{lb.port}{path}"


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/line/webhook/../../../model",  # sent as is (curl --path-as-is)
        "/webhooks/line/webhook%2F..%2F..%2F..%2Fstatus",
        "/webhooks/line/../../status",
        "//model",
        "/webhooks/line/webhook/",
        "/webhooks/line/webhookx",
        "/webhooks/line/",
        "/webhooks/telegram/",
        "/webhooks/rest/webhook/../../../conversations/x/tracker",
    ],
)
def test_no_path_trick_reaches_anything_but_a_webhook(other: AnotherMachine, closed: Balancer, path: str) -> None:
    status, _ = other.request("POST", url(other, closed, path), body=b"{}", headers=JSON)
    assert status == 403, path
    assert closed.upstream.seen == []


def test_a_webhook_is_passed_on_as_exactly_its_path(other: AnotherMachine, closed: Balancer) -> None:
    status, _ = other.request(
        "POST", url(other, closed, "/model/../webhooks/line/webhook?token=x"), body=b"{}", headers=JSON
    )
    assert status == 200
    [seen] = closed.upstream.seen
    assert seen.path.split("?")[0] == "/webhooks/line/webhook"


def test_webhooks_take_only_post(other: AnotherMachine, closed: Balancer) -> None:
    for method in ("GET", "PUT", "DELETE"):
        assert other.request(method, url(other, closed, "/webhooks/line/webhook"))[0] == 403
    assert closed.upstream.seen == []


def test_rest_is_closed_to_other_machines_by_default(other: AnotherMachine, closed: Balancer) -> None:
    assert other.request("POST", url(other, closed, "/webhooks/rest/webhook"), body=REST, headers=JSON)[0] == 403
    assert closed.upstream.seen == []
    # This machine reaches it on the internal listener (the tests, the bench, an operator).
    import urllib.request

    req = urllib.request.Request(f"{closed.internal_url}/webhooks/rest/webhook", data=REST, headers=JSON)
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_published_rest_is_limited_per_address_and_tells_the_channel_who_asked(
    other: AnotherMachine, public_rest: Balancer
) -> None:
    statuses = [
        other.request("POST", url(other, public_rest, "/webhooks/rest/webhook"), body=REST, headers=JSON)[0]
        for _ in range(40)
    ]
    assert statuses[:30] == [200] * 30  # the burst
    assert 429 in statuses[30:]
    assert {s.headers.get("x-real-ip") for s in public_rest.upstream.seen} == {other.address}


def test_this_machine_is_not_limited_on_the_internal_listener(public_rest: Balancer) -> None:
    import urllib.request

    for _ in range(40):
        req = urllib.request.Request(f"{public_rest.internal_url}/webhooks/rest/webhook", data=REST, headers=JSON)
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


def test_the_privacy_notice_is_published_and_nothing_else_of_the_staff_app(
    other: AnotherMachine, closed: Balancer
) -> None:
    """Issue 21 (H-3): the greeting's link, MADOGUCHI_PUBLIC_URL/privacy, opens from another
    machine (the staff app serves it); its login, tickets and audit log do not."""
    assert closed.staff is not None
    assert other.request("GET", url(other, closed, "/privacy"))[0] == 200
    assert other.request("GET", url(other, closed, "/static/staff.css"))[0] == 200
    assert [s.path for s in closed.staff.seen] == ["/privacy", "/static/staff.css"]
    for path in ("/login", "/tickets/1", "/audit", "/privacy/../login", "/static/../login", "/healthz"):
        assert other.request("GET", url(other, closed, path))[0] == 403, path
    assert other.request("POST", url(other, closed, "/privacy"), body=b"x")[0] == 403
    assert [s.path for s in closed.staff.seen] == ["/privacy", "/static/staff.css"]


# Issue 21, H-2: by listener, not by address; the client's address from real_ip.

LINE = json.dumps({"destination": "U0", "events": []}).encode()
FORGED = {**JSON, "X-Line-Signature": "Zm9yZ2Vk"}  # not LINE's signature
#: More than a client's bucket holds (deploy/nginx.py), sent within a second or two.
FLOOD = 3 * nginx.WEBHOOK_BURST


@pytest.fixture
def behind_tls(tmp_path: Path) -> Iterator[tuple[Balancer, Terminator]]:
    """The balancer trusting 127.0.0.1 (MADOGUCHI_TRUSTED_PROXIES), a TLS terminator in front."""
    (tmp_path / "lb").mkdir()
    with balancer(tmp_path / "lb", trusted=("127.0.0.1",)) as lb, tls_terminator(tmp_path / "tls", lb.port) as tls:
        yield lb, tls


def test_behind_a_local_tls_terminator_rasas_api_and_rest_stay_closed(
    other: AnotherMachine, behind_tls: tuple[Balancer, Terminator]
) -> None:
    lb, tls = behind_tls
    https = f"https://{other.host_address}:{tls.port}"
    # Every request arrives from 127.0.0.1 now; before, that opened everything.
    for method, path in (
        ("GET", "/status"),
        ("DELETE", "/model"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/model/parse"),
        ("POST", "/webhooks/rest/webhook"),
        ("GET", "/webhooks/rest/"),
        ("GET", "/login"),
        ("GET", "/webhooks/line/webhook/../../status"),
    ):
        assert (
            other.request(method, f"{https}{path}", body=REST if method == "POST" else None, headers=JSON)[0] == 403
        ), (method, path)
    # A local process on the public listener gets no more than the internet does.
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{lb.local_url}/status", timeout=10)
    assert refused.value.code == 403
    assert lb.upstream.seen == [] and lb.staff is not None and lb.staff.seen == []

    # What LINE and a person need still passes, and the app is told who the client is.
    assert other.request("POST", f"{https}/webhooks/line/webhook", body=LINE, headers=FORGED)[0] == 200
    assert other.request("GET", f"{https}/privacy")[0] == 200
    [seen] = lb.upstream.seen
    assert seen.path == "/webhooks/line/webhook" and seen.headers["x-real-ip"] == other.address
    assert seen.headers["x-forwarded-for"] == other.address

    # Rasa's API is on the internal listener: this machine only, not reachable from outside.
    with urllib.request.urlopen(f"{lb.internal_url}/status", timeout=10) as resp:
        assert resp.status == 200
    assert other.request("GET", f"http://{other.host_address}:{lb.internal_port}/status", timeout=5)[0] == 0


def test_behind_the_terminator_each_client_has_its_own_bucket(
    other: AnotherMachine, third: AnotherMachine, behind_tls: tuple[Balancer, Terminator]
) -> None:
    lb, tls = behind_tls
    statuses = other.burst(
        "POST", f"https://{other.host_address}:{tls.port}/webhooks/line/webhook", FLOOD, body=LINE, headers=FORGED
    )
    assert len(statuses) == FLOOD and statuses.count(429) >= nginx.WEBHOOK_BURST, statuses
    # Another client through the same terminator is not held back by the first one's flood.
    assert [
        third.request(
            "POST", f"https://{third.host_address}:{tls.port}/webhooks/line/webhook", body=LINE, headers=FORGED
        )[0]
        for _ in range(5)
    ] == [200] * 5
    assert {s.headers["x-real-ip"] for s in lb.upstream.seen} == {other.address, third.address}


def test_a_forged_x_forwarded_for_from_an_untrusted_address_is_ignored(
    other: AnotherMachine, third: AnotherMachine, behind_tls: tuple[Balancer, Terminator]
) -> None:
    lb, _ = behind_tls
    direct = f"http://{other.host_address}:{lb.port}/webhooks/line/webhook"
    statuses = other.burst("POST", direct, FLOOD, body=LINE, headers={**FORGED, "X-Forwarded-For": third.address})
    assert statuses.count(429) >= nginx.WEBHOOK_BURST, statuses
    # A new forged address buys no new bucket (only the few requests the rate refilled pass)…
    again = other.burst("POST", direct, 100, body=LINE, headers={**FORGED, "X-Forwarded-For": "198.51.100.23"})
    assert again.count(429) >= 60, again
    # …and the address it named was never charged.
    assert (
        third.request(
            "POST", f"http://{third.host_address}:{lb.port}/webhooks/line/webhook", body=LINE, headers=FORGED
        )[0]
        == 200
    )
    assert {s.headers["x-real-ip"] for s in lb.upstream.seen} == {other.address, third.address}
    assert sum(s.headers["x-real-ip"] == third.address for s in lb.upstream.seen) == 1


def test_trusted_proxies_are_checked() -> None:
    assert nginx.trusted_proxies("127.0.0.1, 10.1.2.0/24 ::1") == ["127.0.0.1/32", "10.1.2.0/24", "::1/128"]
    for wrong in ("0.0.0.0/0", "::/0", "balancer.example"):
        with pytest.raises(ValueError):
            nginx.trusted_proxies(wrong)
