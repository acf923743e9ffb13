"""Start-time security policy (issue 12): refuse to start a configuration that opens Rasa's
HTTP API, the action server or the REST channel to other machines without a token.

    python -m deploy.preflight local        # scripts/run_stack.sh (make run)
    python -m deploy.preflight production   # deploy/run_two_instances.sh (make run-production)
    python -m deploy.preflight production rasa   # a systemd unit's ExecStartPre (deploy/processes.py)

Silent, exit 0, when the environment is acceptable; otherwise one line per problem on stderr
and exit 2. The start scripts call it before starting anything. The rules (docs/security.md):

* The action server has no authentication (a forged call can erase any sender or book tickets):
  it always binds 127.0.0.1, whatever HOST says (the scripts set SANIC_HOST=127.0.0.1 for it).
* Rasa's HTTP API (``--enable-api``) can replace or delete the model and read every
  conversation: when Rasa binds anywhere but loopback (``HOST``), RASA_API_TOKEN is required;
  in production it is required always (the balancer is public).
* The REST channel has no platform signature: published, it needs MADOGUCHI_REST_TOKEN
  (channels/rest.py checks it): with a non-loopback HOST, and in production when
  MADOGUCHI_REST_PUBLIC=1 (otherwise the balancer serves it to this machine only).
* Production: every variable a process needs (deploy/processes.py) is set; without a process
  name, those of all of them.
* Internal callers (outbox, staff app) send the token in the query string: MADOGUCHI_RASA_URL
  must not send it over plain HTTP to another machine.
* Production, channel secrets (issue 21): a channel is off while all its settings are empty; once
  any is set, each must be there, not a placeholder (a value of ``deploy/*.env.example``,
  ``changeme``, ``<…>``, ``your-…``, one character repeated…) and at least
  :data:`MIN_TOKEN_CHARS` long: LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN (whoever holds
  the secret can sign webhooks), TELEGRAM_BOT_TOKEN (``<bot id>:<key>``, as @BotFather gives it)
  and TELEGRAM_SECRET_TOKEN (the only check on Telegram's webhook).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlsplit

from bot import config
from bot.security.netaddr import is_loopback

__all__ = [
    "MIN_TOKEN_CHARS",
    "CHANNEL_SECRETS",
    "local_problems",
    "production_problems",
    "channel_secret_problems",
    "missing_problems",
    "main",
]

MIN_TOKEN_CHARS = 16
_MAKE_TOKEN = "e.g. `openssl rand -hex 24`"


Env = Optional[Mapping[str, str]]


def _token_problem(env: Env, name: str, why: str, otherwise: str = "") -> Optional[str]:
    value = config.settings(env).text(name).strip()
    if not value:
        return f"{name} is not set: {why}. Set it to a random secret ({_MAKE_TOKEN}){otherwise}."
    if len(value) < MIN_TOKEN_CHARS:
        return (
            f"{name} is shorter than {MIN_TOKEN_CHARS} characters: {why}. "
            f"Use a random secret ({_MAKE_TOKEN}){otherwise}."
        )
    return None


#: Each channel's secrets: a channel with all of them empty is off; with any set, all must be strong.
CHANNEL_SECRETS: Mapping[str, tuple[str, ...]] = {
    "LINE": ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"),
    "Telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_SECRET_TOKEN"),
}
_EXAMPLES = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(
    r"change.?me|placeholder|example|dummy|replace|your[-_ ]|<|>|\$\{|(?-i:x{6,}|X{6,})|\.{3}|^(?:todo|secret|token|none|null)$",
    re.IGNORECASE,
)
_TELEGRAM_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")


def _example_values() -> dict[str, set[str]]:
    """The values ``deploy/*.env.example`` give (what a copied, unfilled example still holds)."""
    values: dict[str, set[str]] = {}
    for path in sorted(_EXAMPLES.glob("*.env.example")):
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.lstrip().startswith("#") and value.strip():
                values.setdefault(name.strip(), set()).add(value.strip().strip("'\""))
    return values


def _weak_secret(name: str, value: str, examples: Mapping[str, set[str]]) -> Optional[str]:
    """Why ``value`` cannot be the secret ``name`` (None: it can)."""
    if not value:
        return "is empty"
    if value in examples.get(name, set()) or _PLACEHOLDER.search(value) or len(set(value)) <= 2:
        return "is a placeholder, not the real secret"
    secret = value
    if name == "TELEGRAM_BOT_TOKEN":
        if not _TELEGRAM_BOT_TOKEN.fullmatch(value):
            return "is not a bot token (<bot id>:<key>, as @BotFather gives it)"
        secret = value.partition(":")[2]
    if len(secret) < MIN_TOKEN_CHARS:
        return f"is shorter than {MIN_TOKEN_CHARS} characters"
    return None


def channel_secret_problems(env: Env = None) -> list[str]:
    """Production: the secrets of every channel that is on (any of its settings set) are real."""
    cfg = config.settings(env)
    examples = _example_values()
    problems = []
    for channel, names in CHANNEL_SECRETS.items():
        values = {name: cfg.text(name).strip() for name in names}
        if not any(values.values()):
            continue  # the channel is off
        for name, value in values.items():
            why = _weak_secret(name, value, examples)
            if why:
                problems.append(
                    f"{name} {why}: the {channel} channel is on ({', '.join(n for n in names if values[n])} set), "
                    f"and a weak or missing secret lets anyone send it forged messages. Copy the real value from "
                    f"the platform's console (the Telegram secret token: {_MAKE_TOKEN}), or leave all of "
                    f"{', '.join(names)} empty to turn the channel off."
                )
    return problems


def _rasa_url_problem(env: Env) -> Optional[str]:
    cfg = config.settings(env)
    name = cfg.source("MADOGUCHI_RASA_URL")  # or its deprecated name, RASA_URL
    if name is None:
        return None
    url = cfg.text("MADOGUCHI_RASA_URL")
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        return (
            f"{name}={url} would send RASA_API_TOKEN in clear to another machine: "
            "point it at a replica on 127.0.0.1, or use https."
        )
    return None


def local_problems(env: Env = None) -> list[str]:
    """``make run``: Rasa (and the staff app) bind HOST; the action server stays on loopback.
    ``env``: the process environment when None (as for every function here)."""
    host = config.settings(env).text("HOST").strip()
    problems = []
    if not is_loopback(host):
        why = (
            f"HOST={host} makes Rasa's HTTP API (--enable-api) reachable from other machines, "
            "where anyone could delete the model or read conversations"
        )
        problems += [
            p
            for p in (
                _token_problem(env, "RASA_API_TOKEN", why, ", or leave HOST at 127.0.0.1"),
                _token_problem(
                    env,
                    "MADOGUCHI_REST_TOKEN",
                    f"HOST={host} also publishes the REST channel, which can book callbacks",
                    ", or leave HOST at 127.0.0.1",
                ),
            )
            if p
        ]
    problems += [p for p in (_rasa_url_problem(env),) if p]
    return problems


def production_problems(env: Env = None) -> list[str]:
    """``make run-production``: the balancer is public, so Rasa's API always needs the token."""
    problems = [
        p
        for p in (
            _token_problem(
                env,
                "RASA_API_TOKEN",
                "production requires a token on Rasa's HTTP API (the outbox and the staff app send it)",
            ),
            _rasa_url_problem(env),
        )
        if p
    ]
    cfg = config.settings(env)
    sanic_host = cfg.text("SANIC_HOST").strip()
    if not is_loopback(sanic_host):
        # The env file wins over the units' Environment=: it must not move the action server.
        problems.append(
            f"SANIC_HOST={sanic_host} would publish the action server, which has no "
            "authentication: leave it at 127.0.0.1."
        )
    # Checked here as written, so that the message names the value (bot.config would refuse it too).
    public_rest = (cfg.raw("MADOGUCHI_REST_PUBLIC") or "0").strip()
    if public_rest not in ("0", "1"):
        problems.append(
            f"MADOGUCHI_REST_PUBLIC must be 0 (default: REST only from this machine) or 1, not {public_rest!r}."
        )
    elif public_rest == "1":
        problem = _token_problem(
            env, "MADOGUCHI_REST_TOKEN", "MADOGUCHI_REST_PUBLIC=1 publishes the REST channel, which then needs a token"
        )
        if problem:
            problems.append(problem)
    return problems + channel_secret_problems(env)


def missing_problems(env: Env = None, process: Optional[str] = None) -> list[str]:
    """The variables that ``process`` (every process when None) needs and ``env`` lacks."""
    from deploy.processes import PROCESSES

    procs = [p for p in PROCESSES if process in (None, p.name)]
    if not procs:
        return [f"no process {process!r} in deploy/processes.py"]
    # RASA_API_TOKEN has its own, stricter check (production_problems).
    names = dict.fromkeys(n for p in procs for n in p.needs if n != "RASA_API_TOKEN")
    cfg = config.settings(env)
    return [f"{n} is not set (see deploy/production.env.example)" for n in names if not cfg.is_set(n)]


def main(argv: Optional[list[str]] = None, env: Env = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["local"] and len(args) == 1:
        problems = local_problems(env)
    elif args[:1] == ["production"] and len(args) in (1, 2):
        problems = production_problems(env) + missing_problems(env, args[1] if len(args) == 2 else None)
    else:
        print("usage: python -m deploy.preflight local|production [PROCESS]", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"refusing to start: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
