"""`python -m deploy.nginx OUT`: deploy/nginx.conf.template rendered for this machine, from the
environment deploy/run_two_instances.sh runs in (the tests render it with ``render``).

    RUN_DIR, LB_HOST, LB_PORT, LB_INTERNAL_PORT, RASA1_PORT, RASA2_PORT, STAFF_PORT
    LB_ROUTING                  sticky (default) or round_robin
    MADOGUCHI_REST_PUBLIC=1     the REST channel on the public listener too
    MADOGUCHI_TRUSTED_PROXIES   addresses or networks whose X-Forwarded-For names the client
                                (issue 21, H-2): the TLS terminator on this machine (127.0.0.1),
                                a known balancer. Empty: X-Forwarded-For is never believed.

The flood limits of the public listener (issue 21, M-10) are the constants below.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

from bot import config

__all__ = [
    "TEMPLATE",
    "WEBHOOK_RATE_PER_S",
    "WEBHOOK_BURST",
    "CONNS_PER_CLIENT",
    "DEFAULT_INTERNAL_PORT",
    "trusted_proxies",
    "render",
    "values_from_env",
    "main",
]

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
#: Requests a second per client address on the public routes, and the burst served at once.
#: LINE delivers every person's messages from a few addresses of its own and does not redeliver
#: a refused webhook unless told to: the bucket must hold a busy evening of real traffic (50
#: people typing at once is ~50 requests a second, tests/production/test_two_instances.py) while
#: a forger is held to this rate, each request refused at the signature check.
WEBHOOK_RATE_PER_S = 50
WEBHOOK_BURST = 500
#: Connections one client address may hold open on the public listener.
CONNS_PER_CLIENT = 100
#: LB_INTERNAL_PORT's default (bot.config).
DEFAULT_INTERNAL_PORT = config.settings({}).integer("LB_INTERNAL_PORT")
UPSTREAMS = {"sticky": "rasa_sticky", "round_robin": "rasa_round_robin"}


def trusted_proxies(raw: str) -> list[str]:
    """MADOGUCHI_TRUSTED_PROXIES (spaces or commas) as networks; refuses a list that trusts all."""
    nets = []
    for word in re.split(r"[\s,]+", raw.strip()):
        if not word:
            continue
        try:
            net = ipaddress.ip_network(word, strict=False)
        except ValueError:
            raise ValueError(f"MADOGUCHI_TRUSTED_PROXIES: {word!r} is not an address or a network") from None
        if net.prefixlen == 0:
            raise ValueError(f"MADOGUCHI_TRUSTED_PROXIES: {word} would let any client choose its own address")
        nets.append(str(net))
    return nets


def render(values: Mapping[str, str], trusted: Sequence[str] = ()) -> str:
    """The template with ``values`` (every @NAME@ of it) and a set_real_ip_from per trusted proxy."""
    full = {
        "WEBHOOK_RATE": str(WEBHOOK_RATE_PER_S),
        "WEBHOOK_BURST": str(WEBHOOK_BURST),
        "WEBHOOK_CONN": str(CONNS_PER_CLIENT),
        **values,
        "SET_REAL_IP_FROM": "\n".join(f"  set_real_ip_from {net};" for net in trusted),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in full.items():
        text = text.replace(f"@{name}@", value)
    left = sorted({m for line in text.splitlines() for m in re.findall(r"@[A-Z0-9_]+@", line.split("#")[0])})
    if left:
        raise KeyError(f"no value for {', '.join(left)} in deploy/nginx.conf.template")
    return text


def values_from_env(env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The template's values from ``env`` (the process environment when None); RUN_DIR and the
    ports of the replicas and the staff app must be set (ConfigError, a ValueError, otherwise)."""
    cfg = config.settings(env)
    routing = cfg.text("LB_ROUTING")
    if routing not in UPSTREAMS:
        raise ValueError("LB_ROUTING must be sticky or round_robin")
    return {
        "RUN_DIR": cfg.require("RUN_DIR"),
        "LB_HOST": cfg.text("LB_HOST"),
        "LB_PORT": str(cfg.integer("LB_PORT")),
        "LB_INTERNAL_PORT": str(cfg.integer("LB_INTERNAL_PORT")),
        "RASA1_PORT": str(cfg.integer("RASA1_PORT")),
        "RASA2_PORT": str(cfg.integer("RASA2_PORT")),
        "STAFF_PORT": str(cfg.integer("STAFF_PORT")),
        "WEBHOOK_UPSTREAM": UPSTREAMS[routing],
        "REST_PUBLIC": "1" if cfg.flag("MADOGUCHI_REST_PUBLIC") else "0",
    }


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        trusted = trusted_proxies(" ".join(config.settings(env).items("MADOGUCHI_TRUSTED_PROXIES")))
        text = render(values_from_env(env), trusted)
    except (KeyError, ValueError) as exc:
        print(f"nginx configuration: {exc}", file=sys.stderr)
        return 2
    Path(args[0]).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
