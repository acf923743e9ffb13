"""The one definition of madoguchi's production processes (issue 21: H-1, M-1, M-6).

Both production paths are built from this module, so they cannot drift apart:

* ``python -m deploy.render_systemd`` writes ``deploy/systemd/*`` (committed; a test checks that
  the committed files equal the rendered ones);
* ``deploy/run_two_instances.sh`` (``make run-production``) asks ``python -m deploy.processes argv
  NAME`` for each command it supervises and ``python -m deploy.processes env`` for the
  environment every process shares.

Each process has its command, the environment it needs (from the one env file), whether the
preflight (deploy/preflight.py) runs before it, and the umask. No secret is ever an argument:
Rasa's API token reaches Rasa through deploy/rasa_serve.py, which reads it from the environment
(or RASA_API_TOKEN_FILE), so ``ps`` and ``/proc/*/cmdline`` never show it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence

from bot import config

__all__ = [
    "Ports",
    "Place",
    "Process",
    "PROCESSES",
    "UMASK",
    "STAFF_WORKERS",
    "STAFF_THREADS",
    "SECRET_NAMES",
    "process",
    "argv",
    "shared_env",
    "main",
]

#: Every file a process creates is its user's only (docs/security.md).
UMASK = "0077"
#: The staff app's gunicorn: one worker process (restarted by gunicorn if it dies or hangs), with
#: threads. One, because the per-address login limit and the bounded argon2 pool live in the
#: process (bot/security/ratelimit.py, staff/accounts.py): two workers would each allow the limit.
STAFF_WORKERS = 1
STAFF_THREADS = 8
#: Values that must never appear on a command line: every secret of the registry (bot.config).
SECRET_NAMES = config.secret_names()
#: What every serving process reads from the env file (deploy/production.env.example).
_STORES = (
    "MADOGUCHI_ENV",
    "MADOGUCHI_DB_URL",
    "MADOGUCHI_TRACKER_DB_URL",
    "MADOGUCHI_SENDER_KEY",
    "MADOGUCHI_FERNET_KEYS",
)
_REDIS = ("MADOGUCHI_REDIS_HOST", "MADOGUCHI_REDIS_PORT", "MADOGUCHI_REDIS_DB", "MADOGUCHI_REDIS_PREFIX")


@dataclass(frozen=True)
class Ports:
    """Where the processes listen, all on 127.0.0.1 (the balancer on LB_HOST)."""

    rasa: tuple[int, ...] = (5006, 5007)
    actions: int = 5056
    staff: int = 8001

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Ports":
        """From ``env`` (the process environment when None); these defaults where unset."""
        d, cfg = cls(), config.settings(env)
        rasa = tuple(cfg.integer(f"RASA{n}_PORT", fallback=p) for n, p in enumerate(d.rasa, start=1))
        return cls(
            rasa=rasa,
            actions=cfg.integer("ACTIONS_PORT", fallback=d.actions),
            staff=cfg.integer("STAFF_PORT", fallback=d.staff),
        )


@dataclass(frozen=True)
class Place:
    """Where the code, the model and the configuration are. ``systemd()`` is the server layout
    of deploy/systemd/README.md; the launcher fills in the checkout's paths."""

    root: str
    model: str
    env_file: str
    credentials: str = ""
    endpoints: str = ""

    def __post_init__(self) -> None:
        if not self.credentials:
            object.__setattr__(self, "credentials", f"{self.root}/credentials.yml")
        if not self.endpoints:
            object.__setattr__(self, "endpoints", f"{self.root}/deploy/endpoints.production.yml")

    @property
    def python(self) -> str:
        return f"{self.root}/.venv/bin/python"

    @classmethod
    def systemd(cls) -> "Place":
        # ${MADOGUCHI_MODEL}: systemd expands it in ExecStart= from the env file.
        return cls(root="/srv/madoguchi", model="${MADOGUCHI_MODEL}", env_file="/etc/madoguchi/production.env")


@dataclass(frozen=True)
class Process:
    name: str
    description: str
    #: The command; {python} {root} {port} {model} {credentials} {endpoints} are filled in.
    command: tuple[str, ...]
    #: Environment names it needs from the env file (the preflight refuses a start without them).
    needs: tuple[str, ...]
    #: One instance per port (Rasa replicas) or a single process on ``port``.
    port: str = ""  # "rasa" | "actions" | "staff" | ""
    preflight: bool = True
    #: Serving processes run for good; a periodic one runs every ``every_s`` seconds.
    every_s: int = 0
    after: tuple[str, ...] = ("network-online.target", "postgresql.service")
    start_timeout_s: int = 90


PROCESSES: tuple[Process, ...] = (
    Process(
        name="actions",
        description="madoguchi action server (rasa_sdk)",
        command=("{python}", "-m", "rasa_sdk", "--actions", "actions", "-p", "{port}"),
        needs=_STORES,
        port="actions",
    ),
    Process(
        name="rasa",
        description="madoguchi Rasa replica",
        # deploy/rasa_serve.py passes RASA_API_TOKEN to Rasa in-process: never an argument.
        command=(
            "{python}",
            "-m",
            "deploy.rasa_serve",
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            "{port}",
            "-m",
            "{model}",
            "--credentials",
            "{credentials}",
            "--endpoints",
            "{endpoints}",
        ),
        needs=_STORES + _REDIS + ("RASA_API_TOKEN",),
        port="rasa",
        after=("network-online.target", "postgresql.service", "redis-server.service", "madoguchi-actions.service"),
        start_timeout_s=900,
    ),
    Process(
        name="staff",
        description="madoguchi staff app and privacy notice",
        # gunicorn (issue 21, M-4), a fixed number of workers, loopback only; ProxyFix in the app.
        command=(
            "{python}",
            "-m",
            "gunicorn",
            "--config",
            "python:staff.gunicorn_conf",
            "--bind",
            "127.0.0.1:{port}",
            "--workers",
            str(STAFF_WORKERS),
            "--threads",
            str(STAFF_THREADS),
            "staff:create_app()",
        ),
        needs=_STORES + ("MADOGUCHI_STAFF_SECRET", "MADOGUCHI_PUBLIC_URL", "RASA_API_TOKEN"),
        port="staff",
    ),
    Process(
        name="purge",
        description="madoguchi: delete data past retention, complete and re-check erasure requests",
        command=("{python}", "-m", "bot.services.purge"),
        needs=_STORES,
        every_s=3600,
    ),
)


def process(name: str) -> Process:
    for p in PROCESSES:
        if p.name == name:
            return p
    raise KeyError(f"no process {name!r}: {', '.join(p.name for p in PROCESSES)}")


def argv(proc: Process, place: Place, port: str = "") -> list[str]:
    """The command of ``proc`` with the paths of ``place`` and its ``port``."""
    values = {
        "python": place.python,
        "root": place.root,
        "model": place.model,
        "port": port,
        "credentials": place.credentials,
        "endpoints": place.endpoints,
    }
    return [part.format(**values) for part in proc.command]


def shared_env(place: Place, ports: Ports) -> dict[str, str]:
    """What every process gets besides deploy/serving.env and the env file: where the others are
    (issue 21, M-6: without them staff replies went to a port where nothing listens)."""
    return {
        "PYTHONPATH": place.root,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        # The action server has no authentication: loopback only (issue 12).
        "SANIC_HOST": "127.0.0.1",
        "MADOGUCHI_ACTIONS_URL": f"http://127.0.0.1:{ports.actions}/webhook",
        "MADOGUCHI_RASA_URL": f"http://127.0.0.1:{ports.rasa[0]}",
    }


def with_place(place: Place, **changes: str) -> Place:
    return replace(place, **{k: v for k, v in changes.items() if v})


def _port_of(proc: Process, ports: Ports, instance: int) -> str:
    if proc.port == "rasa":
        return str(ports.rasa[instance])
    return str(getattr(ports, proc.port)) if proc.port else ""


def main(args: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """For deploy/run_two_instances.sh, from the checkout it runs in:

    python -m deploy.processes argv NAME [INSTANCE] MODEL   one command, NUL-separated
    python -m deploy.processes env                          shell lines: each variable that the
                                                            environment does not set yet
    """
    import shlex
    from pathlib import Path

    args = list(sys.argv[1:] if args is None else args)
    cfg = config.settings(env)
    root = str(Path(__file__).resolve().parent.parent)
    ports = Ports.from_env(env)
    if args[:1] == ["env"] and len(args) == 1:
        place = Place(root=root, model="", env_file="")
        # As in the units, where the env file overrides Environment=: a value already set wins.
        values = {
            **{f"RASA{n}_PORT": str(p) for n, p in enumerate(ports.rasa, start=1)},
            "ACTIONS_PORT": str(ports.actions),
            "STAFF_PORT": str(ports.staff),
            **shared_env(place, ports),
        }
        sys.stdout.write(
            "".join(f'[ -n "${{{k}:-}}" ] || {k}={shlex.quote(v)}; export {k}\n' for k, v in values.items())
        )
        return 0
    if args[:1] == ["argv"] and len(args) in (3, 4):
        proc = process(args[1])
        instance = int(args[2]) if len(args) == 4 else 0
        place = with_place(
            Place(root=root, model=args[-1], env_file=""),
            credentials=cfg.raw("RASA_CREDENTIALS") or "",
            endpoints=cfg.raw("RASA_ENDPOINTS") or "",
        )
        cmd = argv(proc, place, _port_of(proc, ports, instance))
        if proc.every_s:
            cmd += ["--every", str(cfg.integer("PURGE_EVERY_S", fallback=proc.every_s))]
        sys.stdout.write("\0".join(cmd) + "\0")
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
