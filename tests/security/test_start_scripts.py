"""`HOST=0.0.0.0 make run` (scripts/run_stack.sh) from another machine (issue 12, finding 7).

The action server has no authentication, so it must never be reachable from elsewhere, whatever
HOST says; Rasa's API and the REST channel may be, but only with their tokens, and the script
refuses to start without them. The stack runs from a scratch copy of the tree (symlinks, its
own var/) with a model path that does not exist: Rasa then starts in seconds without an agent,
which is all these checks need.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.security.outside import AnotherMachine, another_machine
from tests.stack import ROOT, free_port

pytestmark = pytest.mark.stack

TOKEN = "api-token-0123456789abcdef"
REST_TOKEN = "rest-token-0123456789abcdef"


@pytest.fixture(scope="module")
def other() -> Iterator[AnotherMachine]:
    with another_machine() as machine:
        yield machine


def scratch_tree(tmp: Path) -> Path:
    """The repository by symlinks, except var/ (run_stack.sh writes its logs there)."""
    tree = tmp / "tree"
    tree.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".git"):
            (tree / entry.name).symlink_to(entry)
    return tree


def start(tmp: Path, **env: str) -> tuple[subprocess.Popen, dict[str, int], Path]:
    tree = scratch_tree(tmp)
    ports = {"RASA_PORT": free_port(), "ACTIONS_PORT": free_port(), "STAFF_PORT": free_port()}
    full = {k: v for k, v in os.environ.items() if k not in ("RASA_API_TOKEN", "MADOGUCHI_REST_TOKEN")}
    full.update({k: str(v) for k, v in ports.items()})
    full.update(
        MADOGUCHI_VAR_DIR=str(tree / "var"),
        MADOGUCHI_DB_URL=f"sqlite:///{tree / 'var' / 'madoguchi.db'}",
        LINE_CHANNEL_SECRET="",
        TELEGRAM_BOT_TOKEN="",
        **env,
    )
    log = tmp / "run_stack.log"
    proc = subprocess.Popen(
        ["bash", "scripts/run_stack.sh", str(tmp / "no-such-model.tar.gz")],
        cwd=tree,
        env=full,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, ports, log


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_all_interfaces_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    proc, ports, log = start(tmp_path, HOST="0.0.0.0")
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(proc)
    said = log.read_text(errors="replace")
    assert proc.returncode == 2, said[-2000:]
    assert "RASA_API_TOKEN" in said and "MADOGUCHI_REST_TOKEN" in said and "HOST=0.0.0.0" in said


def test_all_interfaces_keeps_the_action_server_on_this_machine(tmp_path: Path, other: AnotherMachine) -> None:
    proc, ports, log = start(tmp_path, HOST="0.0.0.0", RASA_API_TOKEN=TOKEN, MADOGUCHI_REST_TOKEN=REST_TOKEN)
    try:
        deadline = time.monotonic() + 300
        while "madoguchi is running" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the stack did not start"
            time.sleep(1)
        host = other.host_address
        # A forged action call (it could erase any sender) does not even connect from elsewhere…
        forged = b'{"next_action": "action_delete_data", "sender_id": "line-0123", "tracker": {}}'
        status, _ = other.request(
            "POST",
            f"http://{host}:{ports['ACTIONS_PORT']}/webhook",
            body=forged,
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
        assert status == 0, "the action server answered another machine"
        # …while it is up for Rasa on this machine.
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{ports['ACTIONS_PORT']}/health", timeout=10) as resp:
            assert resp.status == 200
        # Rasa and the REST channel answer other machines, but only with their tokens.
        rasa = f"http://{host}:{ports['RASA_PORT']}"
        assert other.request("GET", f"{rasa}/status")[0] == 401
        assert other.request("DELETE", f"{rasa}/model")[0] == 401
        rest = b'{"sender": "outsider", "message": "hello"}'
        assert (
            other.request(
                "POST", f"{rasa}/webhooks/rest/webhook", body=rest, headers={"Content-Type": "application/json"}
            )[0]
            == 401
        )
    finally:
        stop(proc)
