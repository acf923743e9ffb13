"""`make run` itself, on free ports and its own var dir: a crashed action server is restarted
(supervisord) while Rasa stays up and the conversation goes on; Ctrl-C stops every process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from testing.children import spawn, stop
from tests import early
from tests.reliability.helpers import UNAVAILABLE, YORISOI, pseudonym
from tests.stack import ROOT, Stack, free_port, newest_model

pytestmark = pytest.mark.stack


@dataclass
class MakeRun:
    proc: subprocess.Popen
    var: Path
    rest: Stack  # only its REST helpers (say, tracker) on make run's Rasa port
    actions_port: int
    env: dict[str, str]

    def pid(self, program: str) -> int:
        out = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "supervisorctl"),
                "-c",
                str(self.var / "run" / "supervisord.conf"),
                "pid",
                program,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return int(out)

    def processes(self) -> list[int]:
        """Every live process of this stack: they all inherit its MADOGUCHI_VAR_DIR."""
        marker = f"MADOGUCHI_VAR_DIR={self.var}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "environ").read_bytes().split(b"\0") and not _zombie(entry):
                        found.append(int(entry.name))
                except OSError:
                    pass
        return found


def _zombie(proc_dir: Path) -> bool:
    return (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(Path(f"/proc/{pid}"))


def launch_make_run(config: pytest.Config) -> MakeRun:
    """`make run` on free ports, started without waiting for it."""
    tmp = config._tmp_path_factory.mktemp("make-run")
    var = tmp / "var"
    model = newest_model()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS")) and k != "RASA_API_TOKEN"}
    env.update(
        {
            "HOST": "127.0.0.1",
            "RASA_PORT": str(free_port()),
            "ACTIONS_PORT": str(free_port()),
            "STAFF_PORT": str(free_port()),
            "MADOGUCHI_VAR_DIR": str(var),
            "MADOGUCHI_DB_URL": "",
            "MADOGUCHI_SENDER_KEY": uuid.uuid4().hex,
            "RASA_ENDPOINTS": "",
            "LINE_CHANNEL_SECRET": "",
            "LINE_CHANNEL_ACCESS_TOKEN": "",
            "TELEGRAM_BOT_TOKEN": "",
            "TELEGRAM_SECRET_TOKEN": "",
        }
    )
    log = open(tmp / "make-run.log", "ab")
    # -o: the model is given and never rebuilt here (make test has just built it).
    proc = spawn(
        ["make", "-s", "-o", str(model), "run", f"MODEL={model}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        death_signal=signal.SIGTERM,
    )
    rest = Stack(workdir=tmp, env=env, rasa_port=int(env["RASA_PORT"]))
    return MakeRun(proc=proc, var=var, rest=rest, actions_port=int(env["ACTIONS_PORT"]), env=env)


def _stop(run: MakeRun) -> None:
    stop(run.proc, grace=60)


# Launched while the fault tests run (tests/early.py: once their stack is up), so that its Rasa
# loads beside them rather than before the first test here.
early.plan(early.Early(name="make_run", after="rstack", launch=launch_make_run, dispose=_stop))


@pytest.fixture(scope="module")
def make_run(request: pytest.FixtureRequest) -> Iterator[MakeRun]:
    run = early.take("make_run") or launch_make_run(request.config)
    log = run.rest.workdir / "make-run.log"
    try:
        deadline = time.monotonic() + 60 + 420 + 60
        while "madoguchi is running" not in log.read_text(errors="replace"):
            assert run.proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "make run did not come up"
            time.sleep(1)
        yield run
    finally:
        _stop(run)


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
            return True
    except OSError:
        return False


def test_a_killed_action_server_is_restarted_while_rasa_and_the_conversation_go_on(make_run: MakeRun) -> None:
    say = make_run.rest.say
    person = f"run-{uuid.uuid4().hex[:8]}"
    say(person, "こんにちは")
    assert "年齢" in "\n".join(m.get("text", "") for m in say(person, "母です"))
    rasa, actions = make_run.pid("rasa"), make_run.pid("actions")

    os.kill(actions, signal.SIGKILL)
    killed = time.monotonic()
    same_turn = "\n".join(m.get("text", "") for m in say(person, "４５歳です", timeout=60))
    # Answered either way: the gentle fallback while the server is down, or the next question
    # if it was already back.
    assert (UNAVAILABLE in same_turn and YORISOI in same_turn) or "いまの様子" in same_turn, same_turn

    while not _health(make_run.actions_port):
        assert time.monotonic() - killed < 20, "the action server was not back within 20 s"
        time.sleep(0.2)
    assert make_run.pid("actions") not in (0, actions)
    assert make_run.pid("rasa") == rasa and _alive(rasa)  # Rasa was never restarted

    if "いまの様子" not in same_turn:
        assert "いまの様子" in "\n".join(m.get("text", "") for m in say(person, "４５歳です"))
    slots = make_run.rest.tracker(pseudonym(make_run.env["MADOGUCHI_SENDER_KEY"], "rest", person))["slots"]
    assert slots["relation"] == "family" and slots["age_min"] == 45  # nothing said before was lost
    log = (make_run.var / "log" / "supervisord.log").read_text(errors="replace")
    assert re.search(r"exited: actions \(terminated by SIGKILL", log) and log.count("spawned: 'actions'") >= 2, log


def test_ctrl_c_stops_every_process_of_make_run(make_run: MakeRun) -> None:
    before = make_run.processes()
    assert {make_run.proc.pid, make_run.pid("rasa"), make_run.pid("actions"), make_run.pid("staff")} <= set(before)
    os.killpg(make_run.proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's job
    make_run.proc.wait(90)
    deadline = time.monotonic() + 30
    while make_run.processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert make_run.processes() == []
    assert not any(_alive(pid) for pid in before)
