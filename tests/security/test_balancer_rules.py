"""The balancer's rules (deploy/nginx.conf.template) seen from another machine (issue 12,
findings 1 and 4): nginx from the template, a recording stand-in for the replicas, and a client
in a network namespace. The same against the real two-replica setup:
tests/production/test_network_exposure.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.security.balancer import Balancer, balancer
from tests.security.outside import AnotherMachine, another_machine


pytestmark = pytest.mark.nginx  # starts nginx from deploy/nginx.conf.template

REST = json.dumps({"sender": "someone", "message": "こんにちは"}).encode()
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def other() -> Iterator[AnotherMachine]:
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


@pytest.mark.parametrize("path", [
    "/webhooks/line/webhook/../../../model",  # sent as is (curl --path-as-is)
    "/webhooks/line/webhook%2F..%2F..%2F..%2Fstatus",
    "/webhooks/line/../../status",
    "//model",
    "/webhooks/line/webhook/",
    "/webhooks/line/webhookx",
    "/webhooks/line/",
    "/webhooks/telegram/",
    "/webhooks/rest/webhook/../../../conversations/x/tracker",
])
def test_no_path_trick_reaches_anything_but_a_webhook(other: AnotherMachine, closed: Balancer, path: str) -> None:
    status, _ = other.request("POST", url(other, closed, path), body=b"{}", headers=JSON)
    assert status == 403, path
    assert closed.upstream.seen == []


def test_a_webhook_is_passed_on_as_exactly_its_path(other: AnotherMachine, closed: Balancer) -> None:
    status, _ = other.request("POST", url(other, closed, "/model/../webhooks/line/webhook?token=x"), body=b"{}",
                              headers=JSON)
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
    # This machine still reaches it (the tests, the bench, an operator).
    import urllib.request

    req = urllib.request.Request(f"{closed.local_url}/webhooks/rest/webhook", data=REST, headers=JSON)
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_published_rest_is_limited_per_address_and_tells_the_channel_who_asked(
        other: AnotherMachine, public_rest: Balancer) -> None:
    statuses = [other.request("POST", url(other, public_rest, "/webhooks/rest/webhook"), body=REST,
                              headers=JSON)[0] for _ in range(40)]
    assert statuses[:30] == [200] * 30  # the burst
    assert 429 in statuses[30:]
    assert {s.headers.get("x-real-ip") for s in public_rest.upstream.seen} == {other.address}


def test_this_machine_is_not_limited(public_rest: Balancer) -> None:
    import urllib.request

    for _ in range(40):
        req = urllib.request.Request(f"{public_rest.local_url}/webhooks/rest/webhook", data=REST, headers=JSON)
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


def test_the_privacy_notice_is_published_and_nothing_else_of_the_staff_app(
        other: AnotherMachine, closed: Balancer) -> None:
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
