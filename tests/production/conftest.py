"""The production configuration, for real: deploy/run_two_instances.sh (2 Rasa replicas + 1 action
server behind nginx) on PostgreSQL + Redis, a fresh database per run, a fake LINE API.

The cluster is started once per test module run (module scope) and stopped, and its database
dropped, at the end. Skipped when PostgreSQL, Redis or nginx is not there
(`bash scripts/services.sh` starts the local services; nginx: `apt-get install -y nginx`).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
from cryptography.fernet import Fernet

from bench.common import free_port, http_ok
from bench.load import FakeLine

ROOT = Path(__file__).resolve().parents[2]
PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 1
PINNED_NOW = "2026-11-30T10:00:00+09:00"
LINE_SECRET = "production-test-line-secret"


def _pg_admin() -> tuple[Any, str]:
    """A psycopg2 autocommit connection to the maintenance DB (user root, else postgres)."""
    import psycopg2

    last: Optional[Exception] = None
    for user in ("root", "postgres"):
        for db in ("test", "postgres"):
            try:
                conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=db, connect_timeout=3)
                conn.autocommit = True
                return conn, user
            except Exception as exc:  # noqa: BLE001
                last = exc
    raise RuntimeError(f"PostgreSQL not reachable: {last}")


def _redis() -> Any:
    import redis

    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=3)
    r.ping()
    return r


class LoopThread:
    """An asyncio loop in a thread, for the fake LINE API while tests run synchronously."""

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
    rasa_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    actions_port: int = field(default_factory=free_port)
    proc: Optional[subprocess.Popen] = None

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.rasa_ports]

    def db(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=self.pg_user, dbname=self.db_name)
        conn.autocommit = True
        return conn

    def query(self, sql: str, *params: Any) -> list[tuple]:
        conn = self.db()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def logs(self, pattern: str) -> list[str]:
        hits = []
        for log in self.run_dir.glob("rasa*.log"):
            hits += [f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines() if pattern in line]
        return hits


def _start(cluster: Cluster, model: Path, timeout: float = 600) -> None:
    env = dict(cluster.env, RUN_DIR=str(cluster.run_dir), LB_PORT=str(cluster.lb_port),
               RASA1_PORT=str(cluster.rasa_ports[0]), RASA2_PORT=str(cluster.rasa_ports[1]),
               ACTIONS_PORT=str(cluster.actions_port))
    log = open(cluster.run_dir / "run_two_instances.log", "ab")
    cluster.proc = subprocess.Popen(["bash", str(ROOT / "deploy" / "run_two_instances.sh"), str(model)],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not (cluster.run_dir / "ready").exists():
        if cluster.proc.poll() is not None:
            raise RuntimeError("run_two_instances.sh exited:\n" +
                               (cluster.run_dir / "run_two_instances.log").read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            raise TimeoutError("the two-instance setup did not come up")
        time.sleep(0.5)


def _stop(cluster: Cluster) -> None:
    proc = cluster.proc
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _services_or_skip() -> tuple[Any, str, Any]:
    try:
        admin, user = _pg_admin()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL on {PG_HOST}:{PG_PORT} not available ({exc}); run scripts/services.sh")
    try:
        red = _redis()
    except Exception as exc:  # noqa: BLE001
        admin.close()
        pytest.skip(f"Redis on {REDIS_HOST}:{REDIS_PORT} not available ({exc}); run scripts/services.sh")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        admin.close()
        pytest.skip("nginx not installed (apt-get install -y nginx)")
    return admin, user, red


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    from tests.stack import newest_model

    admin, user, red = _services_or_skip()
    suffix = uuid.uuid4().hex[:10]
    db_name = f"madoguchi_test_{suffix}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db_name}"')
    prefix = f"mt{suffix}"
    run_dir = tmp_path_factory.mktemp("two-instances")
    url = f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{db_name}"
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false",
        "MADOGUCHI_PG_HOST": PG_HOST, "MADOGUCHI_PG_PORT": str(PG_PORT), "MADOGUCHI_PG_DB": db_name,
        "MADOGUCHI_PG_USER": user, "MADOGUCHI_PG_PASSWORD": "",
        "MADOGUCHI_REDIS_HOST": REDIS_HOST, "MADOGUCHI_REDIS_PORT": str(REDIS_PORT),
        "MADOGUCHI_REDIS_DB": str(REDIS_DB), "MADOGUCHI_REDIS_PREFIX": prefix,
        "MADOGUCHI_DB_URL": url, "MADOGUCHI_TRACKER_DB_URL": url,
        "MADOGUCHI_VAR_DIR": str(run_dir / "var"),
        "MADOGUCHI_SENDER_KEY": uuid.uuid4().hex, "MADOGUCHI_FERNET_KEYS": Fernet.generate_key().decode(),
        "MADOGUCHI_NOW": PINNED_NOW,
        "LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "production-test-token",
        "TELEGRAM_BOT_TOKEN": "", "TELEGRAM_SECRET_TOKEN": "", "TELEGRAM_API_BASE_URL": "",
        "LB_ROUTING": os.environ.get("PRODUCTION_TEST_LB_ROUTING", "sticky"),
    })
    loop = LoopThread()
    fake = loop.run(FakeLine().start())
    env["LINE_API_BASE_URL"] = fake.base_url
    c = Cluster(run_dir=run_dir, env=env, db_name=db_name, pg_user=user, redis_prefix=prefix, fake=fake, loop=loop)
    try:
        _start(c, newest_model())
        assert all(http_ok(u + "/") for u in c.rasa_urls)
        yield c
    finally:
        _stop(c)
        loop.run(fake.close())
        loop.stop()
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        admin.close()
        for key in red.scan_iter(f"{prefix}:*"):
            red.delete(key)
