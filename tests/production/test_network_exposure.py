"""The two-replica production setup as the internet sees it (issue 12, finding 1 and "outbox in
production").

A client in a network namespace (tests/security/outside.py) is another machine: through the
balancer it reaches the LINE and Telegram webhooks and the health check, and nothing of Rasa's
HTTP API — not with the right token either — while this machine's own callers (the outbox)
use a replica's API with RASA_API_TOKEN, which Rasa now always requires.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from typing import Any, Callable, Iterator, Optional

import pytest

from bench.load import line_event, sign
from testing.cluster import LINE_SECRET, Cluster
from tests.channels.fake_api import TELEGRAM_TOKEN
from tests.conftest import TELEGRAM_SECRET
from tests.production.test_two_instances import sender_id
from tests.security.outside import AnotherMachine, another_machine

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.stack]

JSON = {"Content-Type": "application/json"}
FAKE_STAFF = "担当者を名乗る偽のお知らせです"


@pytest.fixture(scope="module")
def other() -> Iterator[AnotherMachine]:
    with another_machine() as machine:
        yield machine


@pytest.fixture(scope="module")
def line_platform() -> Iterator[AnotherMachine]:
    """LINE's webhook servers: an address of their own, not the forger's."""
    with another_machine() as machine:
        yield machine


def wait_for(what: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"nothing after {timeout} s")


def line_body(user: str, text: str, token: str) -> bytes:
    event = line_event(user, token, uuid.uuid4().hex[:26].upper(), text=text)
    return json.dumps({"destination": "Uprodtest", "events": [event]}, ensure_ascii=False).encode()


def line_via(request: Callable[..., tuple[int, bytes]], url: str, user: str, text: str, cluster: Cluster) -> list:
    """One LINE message through ``request`` to ``url``; the reply the fake LINE API received."""
    token = uuid.uuid4().hex
    body = line_body(user, text, token)
    status, _ = request("POST", url, body=body, headers={**JSON, "X-Line-Signature": sign(LINE_SECRET, body)})
    assert status == 200
    return wait_for(lambda: cluster.fake.replies.get(token))


def local_request(
    method: str, url: str, *, body: Optional[bytes] = None, headers: Optional[dict[str, str]] = None
) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api_routes(sid: str, attacker: str) -> list[tuple[str, str, Any]]:
    """Every route of Rasa 3.6's HTTP API (rasa/server.py), with a harmful body where one exists."""
    conv = f"/conversations/{sid}"
    return [
        ("GET", "/", None),
        ("GET", "/version", None),
        ("GET", "/status", None),
        ("GET", "/domain", None),
        ("DELETE", "/model", None),
        ("PUT", "/model", {"model_server": {"url": f"http://{attacker}:9/model.tar.gz"}}),
        ("POST", "/model/parse", {"text": "こんにちは"}),
        ("POST", "/model/train", {}),
        ("POST", "/model/predict", []),
        ("POST", "/model/test/intents", {}),
        ("POST", "/model/test/stories", ""),
        ("GET", f"{conv}/tracker", None),
        ("GET", f"{conv}/story", None),
        ("POST", f"{conv}/tracker/events", {"event": "slot", "name": "nickname", "value": "forged"}),
        ("PUT", f"{conv}/tracker/events", []),
        ("POST", f"{conv}/execute", {"name": "utter_greet"}),
        ("POST", f"{conv}/trigger_intent", {"name": "staff_reply", "entities": {"staff_message": FAKE_STAFF}}),
        ("POST", f"{conv}/predict", None),
        ("POST", f"{conv}/messages", {"text": "/delete_data", "sender": "user"}),
        ("POST", "/webhooks/rest/webhook", {"sender": "outsider", "message": "こんにちは"}),
        ("GET", "/webhooks/rest/", None),
        ("GET", "/webhooks/line/", None),
        ("GET", "/webhooks/telegram/", None),
    ]


def test_from_another_machine_only_the_webhooks_and_the_health_check_answer(
    cluster: Cluster, other: AnotherMachine, fake_api
) -> None:
    lb = f"http://{other.host_address}:{cluster.lb_port}"
    assert other.request("GET", f"{lb}/lb-health")[0] == 200

    # LINE works from outside, and leaves a conversation to attack.
    line_user = "U" + uuid.uuid4().hex
    reply = line_via(other.request, f"{lb}/webhooks/line/webhook", line_user, "こんにちは", cluster)
    assert reply[0].messages
    sid = sender_id(cluster, "line", line_user)

    # Telegram works from outside.
    tg_user = 6_000_000_000 + uuid.uuid4().int % 1_000_000_000
    update = {
        "update_id": uuid.uuid4().int % 2**31,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "text": "こんにちは",
            "from": {"id": tg_user, "is_bot": False, "first_name": "T"},
            "chat": {"id": tg_user, "type": "private"},
        },
    }
    status, _ = other.request(
        "POST",
        f"{lb}/webhooks/telegram/webhook",
        body=json.dumps(update).encode(),
        headers={**JSON, "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert status == 200
    wait_for(
        lambda: [
            c
            for c in fake_api.api.calls_to(f"/bot{TELEGRAM_TOKEN}/sendMessage")
            if str(c.params.get("chat_id")) == str(tg_user)
        ]
    )

    # Every API route is refused from outside, with or without the real token.
    answered = {}
    for method, path, body in api_routes(sid, other.address):
        data = (
            None if body is None else (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode()
        )
        for query in ("", f"{'&' if '?' in path else '?'}token={cluster.api_token}"):
            status, _ = other.request(method, f"{lb}{path}{query}", body=data, headers=JSON)
            answered[f"{method} {path}{' +token' if query else ''}"] = status
    assert {k: v for k, v in answered.items() if v != 403} == {}

    # …and nothing happened: the model is loaded on both replicas, the conversation unchanged.
    for url in cluster.rasa_urls:
        status, body = local_request("GET", f"{url}/status?token={cluster.api_token}")
        assert status == 200 and json.loads(body)["model_file"], body
    texts = [row[0] for row in cluster.query("SELECT data FROM events WHERE sender_id = %s", sid)]
    assert texts and not [t for t in texts if FAKE_STAFF in t or "forged" in t or "staff_reply" in t]
    assert not cluster.query("SELECT 1 FROM events WHERE sender_id = %s", sender_id(cluster, "rest", "outsider"))
    assert not [
        p for p in cluster.fake.pushes.get(line_user, []) if FAKE_STAFF in json.dumps(p.messages, ensure_ascii=False)
    ]

    # The balancer's log names nobody (finding 5), on the real setup too.
    time.sleep(1.5)  # flushed every second
    log = (cluster.run_dir / "nginx-access.log").read_text(errors="replace")
    assert re.search(r"POST /webhooks/line/webhook key=line ", log)
    assert line_user not in log and str(tg_user) not in log and "outsider" not in log


def test_rasas_api_wants_the_token_even_from_this_machine(cluster: Cluster) -> None:
    # The public listener has no API at all, from this machine either (issue 21, H-2)…
    assert local_request("GET", f"{cluster.lb_url}/status?token={cluster.api_token}")[0] == 403
    # …the replicas and the balancer's internal listener want the token.
    for base in [*cluster.rasa_urls, cluster.internal_url]:
        assert local_request("GET", f"{base}/status")[0] == 401, base
        assert local_request("DELETE", f"{base}/model")[0] == 401, base
        assert local_request("GET", f"{base}/status?token=not-{cluster.api_token}")[0] == 401, base
        status, body = local_request("GET", f"{base}/status?token={cluster.api_token}")
        assert status == 200 and json.loads(body)["model_file"], base


SPOOL = """
import sys, uuid
from datetime import datetime, timezone
from bot.services import outbox
from bot.store.tickets import TicketDraft
outbox.spool(TicketDraft(sender_id=sys.argv[1], channel="line", conversation_key=uuid.uuid4().hex,
                         contact_method="chat", consent_at=datetime.now(timezone.utc), relation="family",
                         situation="息子が部屋から出てきません", needs=("ibasho",)))
"""


def test_the_outbox_announces_a_spooled_ticket_through_a_replica(cluster: Cluster) -> None:
    """A ticket the database could not take at first is stored by the action server's outbox
    worker, which then asks Rasa (MADOGUCHI_RASA_URL, with RASA_API_TOKEN) to tell the person
    its number: a LINE push arrives. Before, the worker called 127.0.0.1:5005, where nothing
    listens in production, and the person never heard the number."""
    user = "U" + uuid.uuid4().hex
    line_via(local_request, f"{cluster.lb_url}/webhooks/line/webhook", user, "こんにちは", cluster)
    sid = sender_id(cluster, "line", user)
    done = subprocess.run(
        [sys.executable, "-c", SPOOL, sid], env=cluster.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [(ticket_id,)] = wait_for(lambda: cluster.query("SELECT id FROM callback_tickets WHERE sender_id = %s", sid), 120)
    pushed = wait_for(lambda: cluster.fake.pushes.get(user), 120)
    said = json.dumps([p.messages for p in pushed], ensure_ascii=False)
    assert f"#{ticket_id}" in said, said


def test_a_flood_of_forged_webhooks_stops_at_nginx_and_a_crisis_still_gets_its_lines(
    cluster: Cluster, other: AnotherMachine, line_platform: AnotherMachine
) -> None:
    """Issue 21 (M-10): one address floods the LINE webhook with forged requests; nginx refuses
    most of them (429) before Python, the rest fail LINE's signature check, and meanwhile a
    person who writes 「もう死にたい」 through LINE gets the crisis lines in the reply."""
    import threading

    from bot.domain.directory import get_directory
    from deploy.nginx import WEBHOOK_BURST

    forged = line_body("U" + uuid.uuid4().hex, "こんにちは", uuid.uuid4().hex)
    flood: dict[str, list[int]] = {}
    sender = threading.Thread(
        target=lambda: flood.setdefault(
            "statuses",
            other.burst(
                "POST",
                f"http://{other.host_address}:{cluster.lb_port}/webhooks/line/webhook",
                3 * WEBHOOK_BURST,
                body=forged,
                headers={**JSON, "X-Line-Signature": "Zm9yZ2Vk"},
            ),
        )
    )
    sender.start()
    reply = line_via(
        line_platform.request,
        f"http://{line_platform.host_address}:{cluster.lb_port}/webhooks/line/webhook",
        "U" + uuid.uuid4().hex,
        "もう死にたい",
        cluster,
    )
    sender.join(180)
    statuses = flood["statuses"]
    assert len(statuses) == 3 * WEBHOOK_BURST
    assert statuses.count(429) > len(statuses) // 2, statuses  # most never reached Python
    assert set(statuses) <= {429, 401}, set(statuses)  # the rest: refused by the signature check
    said = json.dumps([r.messages for r in reply], ensure_ascii=False)
    assert [h for h in get_directory().hotlines if h.phone in said or h.name in said], said
