"""The pip-audit stage of `make test` (scripts/pip_audit.py, issue 21): the real pip-audit over
this .venv against a stand-in advisory service (an OSV API on 127.0.0.1): a known advisory in an
installed package fails the stage, an accepted one (with its reason) does not, and a service
that cannot be reached fails it closed instead of passing as "no known vulnerabilities"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.stack import ROOT, free_port

ADVISORY = "GHSA-madoguchi-test-0001"
SCRIPT = ROOT / "scripts" / "pip_audit.py"


@pytest.fixture(scope="module")
def advisories() -> Iterator[str]:
    """An OSV API that knows one advisory, for the Jinja2 installed here; its /v1/query URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            found = {}
            if query["package"]["name"] == "jinja2":
                found = {
                    "vulns": [
                        {
                            "id": ADVISORY,
                            "aliases": ["CVE-2099-0001"],
                            "summary": "test",
                            "affected": [
                                {
                                    "package": {"name": "jinja2", "ecosystem": "PyPI"},
                                    "ranges": [
                                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}
                                    ],
                                }
                            ],
                        }
                    ]
                }
            out = json.dumps(found).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()


def stage(osv_url: str, tmp_path: Path, ignore: str = "", **env: str) -> tuple[int, str]:
    ignore_file = tmp_path / "ignore.txt"
    ignore_file.write_text(ignore, encoding="utf-8")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_PIP_AUDIT")}
    run_env.update(
        MADOGUCHI_PIP_AUDIT_SERVICE="osv",
        MADOGUCHI_PIP_AUDIT_OSV_URL=osv_url,
        MADOGUCHI_PIP_AUDIT_IGNORE=str(ignore_file),
        **env,
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=240
    )
    return done.returncode, done.stdout + done.stderr


def test_a_known_advisory_fails_the_stage_and_an_accepted_one_does_not(advisories: str, tmp_path: Path) -> None:
    status, out = stage(advisories, tmp_path)
    assert status == 1, out
    [line] = [line for line in out.splitlines() if f"KNOWN ADVISORY: jinja2 {version('jinja2')}:" in line]
    assert ADVISORY in line and "CVE-2099-0001" in line and "fixed in 99.0" in line
    assert "NOT AUDITED" not in out

    # Accepted by its alias, with the reason: the stage passes and says so.
    status, out = stage(advisories, tmp_path, ignore="# comment\nCVE-2099-0001  templates are ours, never a user's\n")
    assert status == 0, out
    assert "accepted: jinja2" in out and "templates are ours, never a user's" in out
    assert "KNOWN ADVISORY" not in out


def test_an_exception_without_a_reason_fails(advisories: str, tmp_path: Path) -> None:
    status, out = stage(advisories, tmp_path, ignore=f"{ADVISORY}\n")
    assert status == 1 and f"{ADVISORY} has no reason" in out


def test_advisories_out_of_reach_fail_closed_unless_accepted_as_offline(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/query"
    status, out = stage(closed, tmp_path)
    assert status == 1 and "pip-audit: NOT AUDITED" in out and "No known vulnerabilities" not in out
    status, out = stage(closed, tmp_path, MADOGUCHI_PIP_AUDIT_OFFLINE_OK="1")
    assert status == 0 and "pip-audit: NOT AUDITED" in out and "MADOGUCHI_PIP_AUDIT_OFFLINE_OK=1" in out


def test_offline_ok_never_hides_an_advisory_that_was_read() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import pip_audit as stage_module  # scripts/pip_audit.py, not the tool
    finally:
        sys.path.remove(str(SCRIPT.parent))
    report = stage_module.Report(
        (stage_module.Finding("jinja2", "3.1.6", ADVISORY, (), ()),), 10, ("absl-py 1.4.0: not found",)
    )
    status, lines = stage_module.judge(report, "", {}, offline_ok=True)
    assert status == 1 and any("KNOWN ADVISORY" in line for line in lines)


def test_the_committed_exceptions_each_have_a_reason() -> None:
    for raw in (ROOT / "deploy" / "pip-audit-ignore.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            assert len(line.split(None, 1)) == 2, line
