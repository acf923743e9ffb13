"""One way to deploy (issue 21: H-1, M-1, M-6).

The systemd units are rendered from deploy/processes.py, the definition that
deploy/run_two_instances.sh (make run-production) also takes its commands from. These tests read
the units as systemd would, check them against the definition, run ``systemd-analyze verify`` on
them, and start Rasa the way both paths do to show that its API token is never on a command line
yet is enforced.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from deploy import render_systemd
from deploy.processes import PROCESSES, SECRET_NAMES, UMASK, Place, Ports, argv, process, shared_env
from deploy.rasa_serve import TokenInArguments, rasa_argv
from tests.stack import ROOT, free_port

UNITS = ROOT / "deploy" / "systemd"
SANDBOX = {"NoNewPrivileges": "true", "PrivateTmp": "true", "ProtectSystem": "strict", "UMask": UMASK}


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: section → key → every value, continuation lines joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, value = line.split("=", 1)
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def committed() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(UNITS.glob("madoguchi*"))}


def test_the_committed_units_are_the_rendered_ones() -> None:
    assert committed() == render_systemd.render_units(), (
        "deploy/systemd/ differs from deploy/processes.py: run python -m deploy.render_systemd"
    )
    assert render_systemd.main(["--check", str(UNITS)]) == 0


def test_a_hand_edit_of_a_unit_is_caught(tmp_path: Path) -> None:
    render_systemd.write(tmp_path, render_systemd.render_units())
    unit = tmp_path / "madoguchi-rasa@.service"
    unit.write_text(unit.read_text().replace("deploy.rasa_serve run", "rasa run --auth-token x"))
    assert render_systemd.main(["--check", str(tmp_path)]) == 1


@pytest.mark.parametrize("proc", PROCESSES, ids=lambda p: p.name)
def test_every_unit_runs_what_the_definition_says(proc) -> None:
    place, ports = Place.systemd(), Ports()
    name = f"madoguchi-{proc.name}@.service" if proc.port == "rasa" else f"madoguchi-{proc.name}.service"
    unit = parse(committed()[name])
    service = unit["Service"]
    port = "%i" if proc.port == "rasa" else (str(getattr(ports, proc.port)) if proc.port else "")
    [exec_start] = service["ExecStart"]
    assert shlex.split(exec_start) == argv(proc, place, port)
    # The same env file for every unit, the purge included (M-6), after deploy/serving.env.
    assert service["EnvironmentFile"] == [f"{place.root}/deploy/serving.env", "/etc/madoguchi/production.env"]
    env = dict(v.strip('"').split("=", 1) for v in service["Environment"])
    assert env == shared_env(place, ports)
    assert env["MADOGUCHI_RASA_URL"] == f"http://127.0.0.1:{ports.rasa[0]}"
    assert env["MADOGUCHI_ACTIONS_URL"] == f"http://127.0.0.1:{ports.actions}/webhook"
    # The preflight runs before each process, for that process's variables (H-1).
    assert service["ExecStartPre"] == [f"{place.python} -m deploy.preflight production {proc.name}"]
    for key, value in SANDBOX.items():
        assert service[key] == [value], key
    assert service["ReadWritePaths"] == [f"{place.root}/var"]
    # No secret on a command line (M-1): neither a token option nor a variable holding one.
    command = " ".join(service["ExecStart"] + service["ExecStartPre"])
    assert "--auth-token" not in command and not re.search(r"(^|\s)-t(\s|$)", command)
    assert not [s for s in SECRET_NAMES if s in command]


def test_rasa_gets_its_token_and_the_target_starts_everything() -> None:
    rasa = parse(committed()["madoguchi-rasa@.service"])["Service"]
    assert "deploy.rasa_serve" in rasa["ExecStart"][0] and "--enable-api" in rasa["ExecStart"][0]
    assert "RASA_API_TOKEN" in process("rasa").needs
    target = parse(committed()["madoguchi.target"])["Unit"]["Wants"][0].split()
    assert target == [
        "madoguchi-actions.service",
        "madoguchi-rasa@5006.service",
        "madoguchi-rasa@5007.service",
        "madoguchi-staff.service",
        "madoguchi-purge.timer",
    ]
    timer = parse(committed()["madoguchi-purge.timer"])
    assert timer["Install"]["WantedBy"] == ["madoguchi.target"]
    assert timer["Timer"]["OnUnitActiveSec"] == [f"{process('purge').every_s}s"]


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    # make test installs it (scripts/ensure_debian_packages.sh): missing, the units are unverified.
    assert tool, "systemd-analyze is missing: run scripts/ensure_debian_packages.sh"
    # The units as rendered for a checkout in tmp_path (systemd checks that the programs exist).
    root = tmp_path / "srv"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (root / "deploy").mkdir()
    (root / "deploy" / "serving.env").write_text("", encoding="utf-8")
    env_file = tmp_path / "production.env"
    env_file.write_text("", encoding="utf-8")
    units = tmp_path / "units"
    units.mkdir()
    render_systemd.write(
        units,
        render_systemd.render_units(Place(root=str(root), model=str(tmp_path / "m.tar.gz"), env_file=str(env_file))),
    )
    names = [n.name for n in sorted(units.iterdir())]
    names = [n.replace("@.service", f"@{Ports().rasa[0]}.service") for n in names]
    done = subprocess.run([tool, "verify", "--man=no", *names], cwd=units, capture_output=True, text=True, timeout=120)
    # systemd < 254 does not know the restart back-off keys yet; it ignores them (and says so).
    complaints = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and not re.search(r"Unknown key '(RestartSteps|RestartMaxDelaySec)'", line)
    ]
    assert done.returncode == 0 and complaints == [], done.stderr


def test_the_launcher_supervises_every_process_of_the_definition() -> None:
    """deploy/run_two_instances.sh has no command of its own: each comes from the definition."""
    script = (ROOT / "deploy" / "run_two_instances.sh").read_text(encoding="utf-8")
    started = re.findall(r"^program (\w+)", script, flags=re.MULTILINE)
    assert sorted(set(started)) == sorted(p.name for p in PROCESSES)
    assert started.count("rasa") == len(Ports().rasa)
    assert "--auth-token" not in script and "bin/rasa" not in script
    assert "umask 077" in script


def full_env() -> dict[str, str]:
    secrets = {name: f"secret-{name.lower()}-0123456789abcdef" for name in SECRET_NAMES}
    return {**os.environ, **secrets, "PURGE_EVERY_S": "3600"}


@pytest.mark.parametrize("proc", PROCESSES, ids=lambda p: p.name)
def test_no_launcher_command_holds_a_secret(proc) -> None:
    """What supervisord starts (and ps shows) for each process: python -m deploy.processes argv."""
    env = full_env()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.processes",
            "argv",
            proc.name,
            *(["1"] if proc.port == "rasa" else []),
            "/srv/model.tar.gz",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    words = out.decode().split("\0")[:-1]
    assert words[:2] == [str(ROOT / ".venv" / "bin" / "python"), "-m"]
    assert [w for w in words if any(env[s] in w for s in SECRET_NAMES)] == []
    if proc.port == "rasa":
        assert words[words.index("-p") + 1] == str(Ports.from_env(env).rasa[1])


def test_a_token_given_as_an_argument_is_refused() -> None:
    assert rasa_argv(["run", "-p", "5006"], "tok") == ["rasa", "run", "-p", "5006", "--auth-token", "tok"]
    for given in (["--auth-token", "x"], ["--auth-token=x"], ["-t", "x"], ["-tx"]):
        with pytest.raises(TokenInArguments):
            rasa_argv(["run", *given], "tok")


# --------------------------------------------------------------------------------------------------
# Rasa started as both paths start it: its API wants the token, which no command line shows.
TOKEN = "rasa-api-token-0123456789abcdef"


def family(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, int]]:
    """deploy.rasa_serve with a model path that does not exist: Rasa serves its API without an
    agent, in seconds, which is all the token needs."""
    tmp = tmp_path_factory.mktemp("rasa-serve")
    port = free_port()
    proc_def = process("rasa")
    place = Place(
        root=str(ROOT), model=str(tmp / "no-such-model.tar.gz"), env_file="", endpoints=str(ROOT / "endpoints.yml")
    )
    cmd = argv(proc_def, place, str(port))
    cmd[0] = sys.executable
    env = {
        **os.environ,
        "RASA_API_TOKEN": TOKEN,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MADOGUCHI_VAR_DIR": str(tmp / "var"),
    }
    log = (tmp / "rasa.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while status_of_or_none(f"http://127.0.0.1:{port}/") != 200:
            assert proc.poll() is None, (tmp / "rasa.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "Rasa did not start"
            time.sleep(1)
        yield proc, port
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def status_of_or_none(url: str) -> int | None:
    try:
        return status_of(url)
    except OSError:
        return None


@pytest.mark.stack
def test_no_command_line_shows_the_token(rasa: tuple[subprocess.Popen, int]) -> None:
    proc, _ = rasa
    pids = family(proc.pid)
    cmdlines = {
        p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        for p in pids
        if Path(f"/proc/{p}/cmdline").exists()
    }
    assert any("deploy.rasa_serve" in c for c in cmdlines.values()), cmdlines
    assert [c for c in cmdlines.values() if TOKEN in c or "--auth-token" in c] == []
    ps = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=True).stdout
    assert TOKEN not in ps


@pytest.mark.stack
def test_rasas_api_still_wants_the_token(rasa: tuple[subprocess.Popen, int]) -> None:
    _, port = rasa
    base = f"http://127.0.0.1:{port}"
    assert status_of(f"{base}/status") == 401
    assert status_of(f"{base}/status?token=wrong") == 401
    assert status_of(f"{base}/status?token={TOKEN[:-1]}") == 401
    assert status_of(f"{base}/status?token={TOKEN}x") == 401
    # With the token Rasa answers the request itself: 409, as no model is loaded.
    assert status_of(f"{base}/status?token={TOKEN}") == 409
    assert status_of(f"{base}/conversations/x/tracker?token={TOKEN}") == 409
    assert status_of(f"{base}/conversations/x/tracker") == 401
