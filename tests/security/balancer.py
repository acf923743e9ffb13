"""nginx from deploy/nginx.conf.template in front of a recording stand-in for the two replicas:
the balancer's rules (what is published, limits, what is logged) in seconds, without Rasa.
The same rules against the real two-replica setup: tests/production/test_network_exposure.py.
"""

from __future__ import annotations

import json
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

from deploy import nginx
from tests.stack import free_port


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
                upstream.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                out = json.dumps({"upstream": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a burst through nginx is not dropped at accept (default 5)

        self.server = Server(("127.0.0.1", 0), Handler)
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
    #: The internal listener (127.0.0.1 only): Rasa's API and every webhook, unlimited.
    internal_port: int = 0

    @property
    def local_url(self) -> str:
        """The public listener, from this machine."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    def log(self, name: str = "nginx-access.log") -> str:
        path = self.run_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def flush_logs(self) -> None:
        """nginx writes its buffered access log on reopen (SIGUSR1)."""
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)


def render(
    run_dir: Path,
    *,
    port: int,
    rasa_ports: tuple[int, int],
    rest_public: str = "0",
    lb_host: str = "0.0.0.0",
    upstream: str = "rasa_sticky",
    staff_port: int | None = None,
    internal_port: int | None = None,
    trusted: tuple[str, ...] = (),
) -> str:
    """The template with the values deploy/run_two_instances.sh gives deploy.nginx."""
    values = {
        "RUN_DIR": str(run_dir),
        "LB_HOST": lb_host,
        "LB_PORT": str(port),
        "RASA1_PORT": str(rasa_ports[0]),
        "RASA2_PORT": str(rasa_ports[1]),
        "STAFF_PORT": str(staff_port if staff_port is not None else rasa_ports[0]),
        "LB_INTERNAL_PORT": str(internal_port or free_port()),
        "WEBHOOK_UPSTREAM": upstream,
        "REST_PUBLIC": rest_public,
    }
    return nginx.render(values, nginx.trusted_proxies(" ".join(trusted)))


@contextmanager
def balancer(run_dir: Path, *, rest_public: str = "0", trusted: tuple[str, ...] = ()) -> Iterator[Balancer]:
    """nginx on 0.0.0.0:<free port> (reachable from tests.security.outside) and its internal
    listener on 127.0.0.1 → one stand-in; X-Forwarded-For believed from ``trusted`` only."""
    upstream, staff = Upstream(), Upstream()
    port, internal_port = free_port(), free_port()
    conf = run_dir / "nginx.conf"
    conf.write_text(
        render(
            run_dir,
            port=port,
            rasa_ports=(upstream.port, upstream.port),
            rest_public=rest_public,
            staff_port=staff.port,
            internal_port=internal_port,
            trusted=trusted,
        ),
        encoding="utf-8",
    )
    nginx = nginx_binary()
    subprocess.run([nginx, "-t", "-q", "-c", str(conf), "-p", str(run_dir), "-g", "daemon off;"], check=True)
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(run_dir), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lb-health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        "nginx did not start: " + (run_dir / "nginx-error.log").read_text(errors="replace")
                    ) from None
                time.sleep(0.1)
        yield Balancer(run_dir, port, upstream, proc, staff, internal_port)
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.close()
        staff.close()


TERMINATOR = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 0.0.0.0:{port} ssl;
    ssl_certificate {dir}/cert.pem;
    ssl_certificate_key {dir}/key.pem;
    location / {{
      proxy_pass http://127.0.0.1:{target};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
}}
"""


@dataclass
class Terminator:
    """A TLS terminator on this machine (what LINE's and Telegram's https rule leads to)."""

    port: int


@contextmanager
def tls_terminator(run_dir: Path, target_port: int) -> Iterator[Terminator]:
    """A second nginx, https on 0.0.0.0:<free port> with a certificate made here, forwarding to
    127.0.0.1:``target_port`` with X-Forwarded-For, as caddy, stunnel or an nginx in front would."""
    run_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(run_dir / "key.pem"),
            "-out",
            str(run_dir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    conf = run_dir / "terminator.conf"
    conf.write_text(TERMINATOR.format(dir=run_dir, port=port, target=target_port), encoding="utf-8")
    nginx = nginx_binary()
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(run_dir), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["curl", "-sk", "-o", "/dev/null", f"https://127.0.0.1:{port}/"]).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    "the TLS terminator did not start: " + (run_dir / "error.log").read_text(errors="replace")
                )
            time.sleep(0.1)
        yield Terminator(port)
    finally:
        proc.terminate()
        proc.wait(10)
