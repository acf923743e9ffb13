"""`python -m deploy.rasa_serve run …`: `rasa run …` with Rasa's API token kept off the command line
(issue 21, M-1).

Rasa 3.6 takes its API token only as ``--auth-token TOKEN``, an argument that ``ps`` and
``/proc/*/cmdline`` show to every local account. This wrapper reads the token from RASA_API_TOKEN
(or from the file named by RASA_API_TOKEN_FILE), adds it to Rasa's arguments inside this process
(the kernel keeps the command line the process was started with) and runs Rasa's own CLI, so
every other option means what it means to ``rasa run``.

Rasa compares the token with ``==`` (``rasa.server.requires_auth``); the wrapper replaces that
check with ``hmac.compare_digest`` before Rasa builds its routes. Everything that is not the
token (JWT, the 401 answer) stays Rasa's own code.
"""

from __future__ import annotations

import hmac
import sys
from functools import wraps
from inspect import isawaitable
from typing import Any, Callable, Mapping, Optional, Sequence

from bot import config

__all__ = ["TOKEN_ENV", "TOKEN_FILE_ENV", "read_token", "rasa_argv", "constant_time", "main"]

TOKEN_ENV = "RASA_API_TOKEN"
TOKEN_FILE_ENV = "RASA_API_TOKEN_FILE"


class TokenInArguments(ValueError):
    """The token was given as an argument after all: refused, as that is what this module avoids."""


def read_token(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """From ``env``, or the process environment when None."""
    cfg = config.settings(env)
    if cfg.is_set(TOKEN_FILE_ENV):
        return cfg.path(TOKEN_FILE_ENV).read_text(encoding="utf-8").strip() or None
    return cfg.text(TOKEN_ENV).strip() or None


def rasa_argv(args: Sequence[str], token: Optional[str]) -> list[str]:
    """Rasa's own arguments: ``args`` plus ``--auth-token`` when there is a token."""
    if any(a.startswith("--auth-token") or (a.startswith("-t") and not a.startswith("--")) for a in args):
        raise TokenInArguments(f"pass the token in {TOKEN_ENV} or {TOKEN_FILE_ENV}, not --auth-token")
    return ["rasa", *args, *(["--auth-token", token] if token else [])]


class _Nothing:
    """Equal to no string: given to Rasa's own check as the token, it never lets a request
    through on a token, and leaves JWT and the 401 answer to Rasa."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def constant_time(original: Callable[..., Decorator]) -> Callable[..., Decorator]:
    """``rasa.server.requires_auth`` with the token compared in constant time."""

    def requires_auth(app: Any, token: Optional[str] = None) -> Decorator:
        if token is None:
            return original(app, token)
        expected = token.encode("utf-8")

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            otherwise = original(app, _Nothing())(handler)

            @wraps(handler)
            async def decorated(request: Any, *args: Any, **kwargs: Any) -> Any:
                given = request.args.get("token", None)
                if isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), expected):
                    result = handler(request, *args, **kwargs)
                    return await result if isawaitable(result) else result
                return await otherwise(request, *args, **kwargs)

            return decorated

        return decorator

    return requires_auth


def main(args: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> Any:
    import rasa.server
    from rasa.__main__ import main as rasa_main

    argv = rasa_argv(sys.argv[1:] if args is None else args, read_token(env))
    rasa.server.requires_auth = constant_time(rasa.server.requires_auth)
    sys.argv = argv
    return rasa_main()


if __name__ == "__main__":  # pragma: no cover
    main()
