"""A client on "another machine": a network namespace joined to this one by a veth pair.

    with another_machine() as other:
        other.request("DELETE", f"http://{other.host_address}:{port}/model")   # → (status, body)

The namespace gets its own address (10.200.R.4k+2) on a /30 created here, so what it sends
reaches this machine's services from a non-loopback address, exactly as a request from the
internet would; nothing leaves this machine. Needs root (CI runs as root); the namespace and the
link are removed afterwards.
"""

from __future__ import annotations

import random
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional


class NoNamespace(RuntimeError):
    """`ip netns` is not usable here (not root, or no CAP_NET_ADMIN)."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NoNamespace(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _addresses_in_use() -> str:
    return subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout


@dataclass
class AnotherMachine:
    namespace: str
    host_address: str  # this machine, as the namespace sees it
    address: str  # the namespace's own (client) address

    def _curl(self, method: str, headers: Optional[dict[str, str]], body: Optional[bytes], timeout: float) -> list[str]:
        # -k: the tests' TLS terminators have a certificate made for the test.
        cmd = [
            "ip",
            "netns",
            "exec",
            self.namespace,
            "curl",
            "-s",
            "-k",
            "--path-as-is",
            "-X",
            method,
            "-m",
            str(timeout),
        ]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        if body is not None:
            cmd += ["--data-binary", "@-"]
        return cmd

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Optional[bytes] = None,
        headers: Optional[dict[str, str]] = None,
        timeout: float = 30,
    ) -> tuple[int, bytes]:
        """One HTTP request from inside the namespace (curl, the path sent as given)."""
        out = Path(f"/tmp/{self.namespace}-{uuid.uuid4().hex}")
        cmd = self._curl(method, headers, body, timeout) + ["-o", str(out), "-w", "%{http_code}"]
        done = subprocess.run(cmd + [url], input=body, capture_output=True, timeout=timeout + 10)
        try:
            data = out.read_bytes() if out.exists() else b""
        finally:
            out.unlink(missing_ok=True)
        return int(done.stdout.decode() or 0), data

    def burst(
        self,
        method: str,
        url: str,
        count: int,
        *,
        body: Optional[bytes] = None,
        headers: Optional[dict[str, str]] = None,
        parallel: int = 50,
        timeout: float = 30,
    ) -> list[int]:
        """``count`` copies of one request, ``parallel`` at a time, as fast as one curl sends them:
        the HTTP status of each (0: no answer)."""
        cmd = self._curl(method, headers, body, timeout) + [
            "-Z",
            "--parallel-max",
            str(parallel),
            "-w",
            "%{http_code}\n",
        ]
        for _ in range(count):
            cmd += ["-o", "/dev/null", url]  # each -o goes with the URL after it
        done = subprocess.run(cmd, input=body, capture_output=True, timeout=timeout * 2 + 30)
        return [int(code) for code in done.stdout.decode().split()]


@contextmanager
def another_machine() -> Iterator[AnotherMachine]:
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"mdg-{tag}", f"mdh{tag}", f"mdn{tag}"
    in_use = _addresses_in_use()
    rng = random.Random()
    for _ in range(50):
        base = f"10.200.{rng.randrange(256)}.{4 * rng.randrange(64)}"
        prefix = base.rsplit(".", 1)[0] + "."
        host_address, address = (
            prefix + str(int(base.rsplit(".", 1)[1]) + 1),
            prefix + str(int(base.rsplit(".", 1)[1]) + 2),
        )
        if f" {host_address}/" not in in_use and f" {address}/" not in in_use:
            break
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        try:
            _ip("link", "set", ns_if, "netns", ns)
            _ip("addr", "add", f"{host_address}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("netns", "exec", ns, "ip", "addr", "add", f"{address}/30", "dev", ns_if)
            _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
            _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
            yield AnotherMachine(ns, host_address, address)
        finally:
            subprocess.run(["ip", "link", "del", host_if], capture_output=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
