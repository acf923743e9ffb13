"""nginx from deploy/nginx.conf.template in front of a recording stand-in for the two replicas:
the balancer's rules (what is published, limits, what is logged) in seconds, without Rasa.
The same rules against the real two-replica setup: tests/production/test_network_exposure.py.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from tests.stack import ROOT, free_port

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise RuntimeError("nginx is not installed (bash scripts/ensure_debian_packages.sh)")
    return found


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Upstream:
    """Answers every request 200 with a JSON body and records it (a replica stand-in)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                          body))
                out = json.dumps({"upstream": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Balancer:
    run_dir: Path
    port: int
    upstream: Upstream
    proc: subprocess.Popen = field(repr=False)
    #: The staff app's stand-in (it serves the privacy notice).
    staff: Upstream | None = None

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str = "nginx-access.log") -> str:
        path = self.run_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def flush_logs(self) -> None:
        """nginx writes its buffered access log on reopen (SIGUSR1)."""
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)


def render(run_dir: Path, *, port: int, rasa_ports: tuple[int, int], rest_public: str = "0",
           lb_host: str = "0.0.0.0", upstream: str = "rasa_sticky", staff_port: int | None = None) -> str:
    """The template with the values deploy/run_two_instances.sh substitutes."""
    values = {"RUN_DIR": str(run_dir), "LB_HOST": lb_host, "LB_PORT": str(port), "RASA1_PORT": str(rasa_ports[0]),
              "RASA2_PORT": str(rasa_ports[1]), "STAFF_PORT": str(staff_port if staff_port is not None else rasa_ports[0]),
              "WEBHOOK_UPSTREAM": upstream, "REST_PUBLIC": rest_public}
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = [line for line in text.splitlines() if re.search(r"@[A-Z0-9_]+@", line.split("#")[0])]
    assert not left, f"placeholders the test does not know: {left}"
    return text


@contextmanager
def balancer(run_dir: Path, *, rest_public: str = "0") -> Iterator[Balancer]:
    """nginx on 0.0.0.0:<free port> (reachable from tests.security.outside) → one stand-in."""
    upstream, staff = Upstream(), Upstream()
    port = free_port()
    conf = run_dir / "nginx.conf"
    conf.write_text(render(run_dir, port=port, rasa_ports=(upstream.port, upstream.port), rest_public=rest_public,
                           staff_port=staff.port), encoding="utf-8")
    nginx = nginx_binary()
    subprocess.run([nginx, "-t", "-q", "-c", str(conf), "-p", str(run_dir), "-g", "daemon off;"], check=True)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(run_dir), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lb-health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("nginx did not start: " + (run_dir / "nginx-error.log").read_text(errors="replace"))
                time.sleep(0.1)
        yield Balancer(run_dir, port, upstream, proc, staff)
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.close()
        staff.close()
