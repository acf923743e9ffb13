"""The two-instance production setup (deploy/run_two_instances.sh) on a throw-away PostgreSQL
database and Redis key prefix, with a fake LINE API: used by tests/production and bench.race.

    with two_instances(model) as cluster:   # creates madoguchi_test_<random>, drops it after
        cluster.lb_url, cluster.internal_url, cluster.rasa_urls, cluster.query("select …"), cluster.fake
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from cryptography.fernet import Fernet

from bench.load import FakeLine
from testing.children import spawn, stop
from testing.common import ROOT, free_port, http_ok

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 1
PINNED_NOW = "2026-11-30T10:00:00+09:00"
LINE_SECRET = "production-test-line-secret"


class ServicesMissing(RuntimeError):
    """PostgreSQL, Redis or nginx is not available."""


def pg_admin() -> tuple[Any, str]:
    """A psycopg2 autocommit connection to a maintenance DB (user root, else postgres)."""
    import psycopg2

    last: Optional[Exception] = None
    for user in ("root", "postgres"):
        for db in ("test", "postgres"):
            try:
                conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=db, connect_timeout=3)
                conn.autocommit = True
                return conn, user
            except Exception as exc:
                last = exc
    raise ServicesMissing(f"PostgreSQL on {PG_HOST}:{PG_PORT} not reachable ({last}); run scripts/services.sh")


def redis_client() -> Any:
    import redis

    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=3)
    try:
        r.ping()
    except Exception as exc:
        raise ServicesMissing(
            f"Redis on {REDIS_HOST}:{REDIS_PORT} not reachable ({exc}); run scripts/services.sh"
        ) from exc
    return r


def nginx_available() -> bool:
    return bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists())


class LoopThread:
    """An asyncio loop in a thread (the fake LINE API and async clients) for sync callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: Optional[float] = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Cluster:
    run_dir: Path
    env: dict[str, str]
    db_name: str
    pg_user: str
    redis_prefix: str
    fake: FakeLine
    loop: LoopThread
    lb_port: int = field(default_factory=free_port)
    #: The balancer's internal listener (127.0.0.1): Rasa's API and every webhook, unlimited.
    lb_internal_port: int = field(default_factory=free_port)
    rasa_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    actions_port: int = field(default_factory=free_port)
    staff_port: int = field(default_factory=free_port)
    proc: Optional[subprocess.Popen] = None
    started_s: Optional[float] = None

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_internal_port}"

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.rasa_ports]

    @property
    def api_token(self) -> str:
        """RASA_API_TOKEN of the replicas (``?token=`` on Rasa's HTTP API)."""
        return self.env["RASA_API_TOKEN"]

    def query(self, sql: str, *params: Any) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=self.pg_user, dbname=self.db_name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def events(self, sender_id: str) -> list[dict[str, Any]]:
        """The conversation's stored events, decrypted (bot/rasa_plugins/tracker_store.py encrypts `data`),
        each with its `_type` and `_action` columns."""
        from cryptography.fernet import Fernet, MultiFernet

        keys = MultiFernet([Fernet(k) for k in self.env["MADOGUCHI_FERNET_KEYS"].split(",") if k])
        rows = self.query("SELECT type_name, action_name, data FROM events WHERE sender_id = %s ORDER BY id", sender_id)
        return [dict(json.loads(keys.decrypt(d.encode())), _type=t, _action=a) for t, a, d in rows]

    def logs(self, pattern: str) -> list[str]:
        hits = []
        for log in sorted(self.run_dir.glob("rasa*.log")):
            hits += [f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines() if pattern in line]
        return hits

    def start(self, model: Path, timeout: float = 900) -> None:
        env = dict(
            self.env,
            RUN_DIR=str(self.run_dir),
            LB_PORT=str(self.lb_port),
            LB_INTERNAL_PORT=str(self.lb_internal_port),
            RASA1_PORT=str(self.rasa_ports[0]),
            RASA2_PORT=str(self.rasa_ports[1]),
            ACTIONS_PORT=str(self.actions_port),
            STAFF_PORT=str(self.staff_port),
        )
        # The staff app's preflight wants it; an address on this machine: the bot shows the
        # privacy notice's text instead of a link (bot/domain/privacy_notice.py).
        env.setdefault("MADOGUCHI_PUBLIC_URL", self.lb_url)
        log = open(self.run_dir / "run_two_instances.log", "ab")
        t0 = time.monotonic()
        # SIGTERM when this process dies: the script then stops everything it started.
        self.proc = spawn(
            ["bash", str(ROOT / "deploy" / "run_two_instances.sh"), str(model)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            death_signal=signal.SIGTERM,
        )
        deadline = time.monotonic() + timeout
        while not (self.run_dir / "ready").exists():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "run_two_instances.sh exited:\n"
                    + (self.run_dir / "run_two_instances.log").read_text(errors="replace")[-3000:]
                )
            if time.monotonic() > deadline:
                raise TimeoutError("the two-instance setup did not come up")
            time.sleep(0.5)
        self.started_s = round(time.monotonic() - t0, 1)
        assert all(http_ok(u + "/") for u in self.rasa_urls)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, grace=30)


@contextmanager
def two_instances(
    model: Path,
    *,
    routing: str = "sticky",
    endpoints: Optional[Path] = None,
    run_dir: Optional[Path] = None,
    extra_env: Optional[dict[str, str]] = None,
) -> Iterator[Cluster]:
    """Start the setup on a fresh database ``madoguchi_test_<random>``; drop it afterwards."""
    if not nginx_available():
        raise ServicesMissing("nginx not installed (apt-get install -y nginx)")
    admin, user = pg_admin()
    red = redis_client()
    suffix = uuid.uuid4().hex[:10]
    db_name = f"madoguchi_test_{suffix}"
    prefix = f"mt{suffix}"
    own_dir = run_dir is None
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="two-instances-"))
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db_name}"')
    url = f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{db_name}"
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "MADOGUCHI_ENV": "production",
            "MADOGUCHI_REDIS_HOST": REDIS_HOST,
            "MADOGUCHI_REDIS_PORT": str(REDIS_PORT),
            "MADOGUCHI_REDIS_DB": str(REDIS_DB),
            "MADOGUCHI_REDIS_PREFIX": prefix,
            "MADOGUCHI_DB_URL": url,
            "MADOGUCHI_TRACKER_DB_URL": url,
            "MADOGUCHI_VAR_DIR": str(run_dir / "var"),
            "MADOGUCHI_SENDER_KEY": uuid.uuid4().hex,
            "MADOGUCHI_FERNET_KEYS": Fernet.generate_key().decode(),
            "MADOGUCHI_STATS_KEY": uuid.uuid4().hex,
            "MADOGUCHI_STAFF_SECRET": uuid.uuid4().hex,
            "RASA_API_TOKEN": uuid.uuid4().hex,  # production refuses to start without it (deploy/preflight.py)
            "MADOGUCHI_NOW": PINNED_NOW,
            "LINE_CHANNEL_SECRET": LINE_SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": "production-test-token",
            "TELEGRAM_BOT_TOKEN": "",
            "TELEGRAM_SECRET_TOKEN": "",
            "TELEGRAM_API_BASE_URL": "",
            "LB_ROUTING": routing,
        }
    )
    if endpoints is not None:
        env["RASA_ENDPOINTS"] = str(endpoints)
    env.update(extra_env or {})
    loop = LoopThread()
    fake = loop.run(FakeLine().start())
    env["LINE_API_BASE_URL"] = fake.base_url
    cluster = Cluster(
        run_dir=run_dir, env=env, db_name=db_name, pg_user=user, redis_prefix=prefix, fake=fake, loop=loop
    )
    try:
        cluster.start(model)
        yield cluster
    finally:
        cluster.stop()
        loop.run(fake.close())
        loop.stop()
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        admin.close()
        for key in red.scan_iter(f"{prefix}:*"):
            red.delete(key)
        if own_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
