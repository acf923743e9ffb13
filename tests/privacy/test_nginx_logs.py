"""The balancer's logs hold no LINE or Telegram user id, no REST sender and no message text
(issue 12, finding 5). nginx runs from deploy/nginx.conf.template in front of a stand-in for the
replicas (tests/security/balancer.py); the two-replica suite checks its own nginx logs too
(tests/production/test_network_exposure.py)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.security.balancer import balancer

pytestmark = pytest.mark.nginx  # starts nginx from deploy/nginx.conf.template


def post(base: str, path: str, body: dict) -> int:
    req = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def test_balancer_logs_name_nobody(tmp_path: Path) -> None:
    line_user = "U" + uuid.uuid4().hex
    telegram_user = 7_000_000_000 + uuid.uuid4().int % 1_000_000_000
    rest_sender = f"rest-person-{uuid.uuid4().hex[:8]}"
    story = "ひみつの話です"
    with balancer(tmp_path) as lb:
        assert (
            post(
                lb.local_url,
                "/webhooks/line/webhook",
                {
                    "destination": "U0",
                    "events": [
                        {
                            "type": "message",
                            "source": {"type": "user", "userId": line_user},
                            "message": {"type": "text", "text": story},
                        }
                    ],
                },
            )
            == 200
        )
        assert (
            post(
                lb.local_url,
                "/webhooks/telegram/webhook",
                {
                    "update_id": 1,
                    "message": {
                        "message_id": 1,
                        "from": {"id": telegram_user, "is_bot": False, "first_name": "x"},
                        "chat": {"id": telegram_user, "type": "private"},
                        "date": 0,
                        "text": story,
                    },
                },
            )
            == 200
        )
        assert post(lb.internal_url, "/webhooks/rest/webhook", {"sender": rest_sender, "message": story}) == 200
        assert len(lb.upstream.seen) == 3
        lb.flush_logs()
        access, errors = lb.log("nginx-access.log"), lb.log("nginx-error.log")
    assert len(re.findall(r"POST /webhooks/\w+/webhook ", access)) == 3, access
    for leaked in (line_user, str(telegram_user), rest_sender, story):
        assert leaked not in access and leaked not in errors, leaked
    # Still useful to an operator: which kind of key routed each request.
    # (Sorted: each nginx worker writes its own buffered lines.)
    assert sorted(re.findall(r"key=(\w+)", access)) == ["line", "rest", "telegram"], access
