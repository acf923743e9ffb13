"""Every environment variable madoguchi reads, in one registry, and the one reader of them (issue 19).

Each setting has its name (the variable), a type, a default, whether it is a secret, and what it
does and who reads it. Code reads a setting through this module only, never ``os.environ``:

    from bot import config

    config.settings().text("MADOGUCHI_DB_URL")        # typed accessors: text, integer, number,
    config.settings().integer("MADOGUCHI_STAFF_SESSION_MINUTES")   # flag, items, path
    config.settings().db_url                          # by attribute: the name less MADOGUCHI_, lowercase
    config.setting("MADOGUCHI_RETENTION_EVENT_DAYS")  # the typed value
    config.settings(env).text("HOST")                 # from a given mapping (deploy/ and tests)

Reads are live: every access reads the environment (or the given mapping) again, so a test that
changes a variable between two calls sees the new value. Nothing is cached at import time.

Rules, the same for every setting:

* unset, empty or blank: the default (a setting without a default is then "" as text, and an
  error from ``integer``/``number``/``path``/``require`` unless the reader gives its own fallback);
* ``int``/``float``: a number, else :class:`ConfigError` naming the variable;
* ``bool``: ``1`` or ``0``, else :class:`ConfigError`;
* ``list``: separated by commas (a setting may allow blanks too), items stripped, empty items dropped;
* ``url``/``path``: surrounding blanks removed; ``str``: the value exactly as set;
* an unknown name raises :class:`UnknownSetting`; a deprecated alias is read after the name.

``python -m bot.config --markdown > docs/configuration.md`` writes the reference
(tests/unit/architecture/test_config.py fails when the committed file differs); ``python -m bot.config`` shows the
values this environment gives, secrets masked.

Standard library only: every layer may import it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

__all__ = [
    "ROOT",
    "Kind",
    "Setting",
    "Settings",
    "SETTINGS",
    "AREAS",
    "ConfigError",
    "UnknownSetting",
    "settings",
    "setting",
    "spec",
    "secret_names",
    "markdown",
    "main",
]
from bot.config.registry import AREAS, SETTINGS
from bot.config.setting import ROOT, ConfigError, Kind, Setting, UnknownSetting

log = logging.getLogger(__name__)


_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
_ALIASES: dict[str, str] = {alias: s.name for s in SETTINGS for alias in s.aliases}
_BY_ATTRIBUTE: dict[str, Setting] = {s.attribute: s for s in SETTINGS}
_warned: set[str] = set()


def _check_registry() -> None:
    if len(_BY_NAME) != len(SETTINGS):
        raise AssertionError("a setting is declared twice")
    if len(_BY_ATTRIBUTE) != len(SETTINGS):
        raise AssertionError("two settings share an attribute name")
    if set(_ALIASES) & set(_BY_NAME):
        raise AssertionError("an alias is also a setting's name")
    areas = {name for name, _ in AREAS}
    for s in SETTINGS:
        if s.area not in areas:
            raise AssertionError(f"{s.name}: unknown area {s.area!r}")
        if s.kind == "list" and not isinstance(s.default, (tuple, type(None))):
            raise AssertionError(f"{s.name}: a list's default is a tuple")


_check_registry()


def spec(name: str) -> Setting:
    """The declaration of ``name``; :class:`UnknownSetting` for any other name."""
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    if name in _ALIASES:
        raise UnknownSetting(f"{name} is a deprecated name of {_ALIASES[name]}: read {_ALIASES[name]}")
    raise UnknownSetting(f"{name} is not a setting of madoguchi (declare it in bot/config/)")


def secret_names() -> tuple[str, ...]:
    """Every secret's variable, aliases included: none may appear on a command line or in a log."""
    return tuple(n for s in SETTINGS if s.secret for n in (s.name, *s.aliases))


# --- reading ------------------------------------------------------------------------------------
class Settings:
    """Typed, live reads of the registry's settings from ``env`` (None: the process environment,
    read again on every access)."""

    def __init__(self, env: Optional[Mapping[str, str]] = None) -> None:
        self._env = env

    def _mapping(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    def _lookup(self, name: str) -> tuple[Setting, Optional[str], Optional[str]]:
        """(declaration, the variable that gave a value, its raw text); (…, None, None) when unset."""
        s = spec(name)
        env = self._mapping()
        for candidate in (s.name, *s.aliases):
            raw = env.get(candidate)
            if raw is not None and raw.strip():
                if candidate != s.name and candidate not in _warned:
                    _warned.add(candidate)
                    log.warning("%s is deprecated: set %s instead", candidate, s.name)
                return s, candidate, raw
        return s, None, None

    # -- what is set
    def raw(self, name: str) -> Optional[str]:
        """The text as set (a deprecated alias when the name is unset), None when unset or blank."""
        return self._lookup(name)[2]

    def source(self, name: str) -> Optional[str]:
        """Which variable gave the value: ``name``, one of its aliases, or None (unset)."""
        return self._lookup(name)[1]

    def is_set(self, name: str) -> bool:
        return self._lookup(name)[2] is not None

    def require(self, name: str) -> str:
        """The text as set; :class:`ConfigError` when unset."""
        raw = self.raw(name)
        if raw is None:
            raise ConfigError(f"{name} is not set")
        return raw

    # -- typed values
    def value(self, name: str) -> Any:
        """The typed value, or the default (None when the setting has none)."""
        s, _, raw = self._lookup(name)
        return s.default_value() if raw is None else s.parse(raw)

    def _typed(self, name: str, kinds: tuple[str, ...], fallback: Any = None) -> Any:
        s, _, raw = self._lookup(name)
        if s.kind not in kinds:
            raise TypeError(f"{name} is declared as {s.kind}, not {'/'.join(kinds)}")
        if fallback is not None and s.default is not None:
            raise TypeError(f"{name} has its default in bot/config/; a reader gives none of its own")
        if raw is not None:
            return s.parse(raw)
        if s.default is not None:
            return s.default_value()
        return fallback

    def text(self, name: str) -> str:
        """A ``str`` or ``url`` setting; "" when unset without a default."""
        value = self._typed(name, ("str", "url"))
        return "" if value is None else str(value)

    def integer(self, name: str, fallback: Optional[int] = None) -> int:
        """An ``int`` setting; ``fallback`` only for a setting whose default the reader gives."""
        value = self._typed(name, ("int",), fallback)
        if value is None:
            raise ConfigError(f"{name} is not set")
        return int(value)

    def number(self, name: str, fallback: Optional[float] = None) -> float:
        """A ``float`` setting (an ``int`` one too); ``fallback`` as for :meth:`integer`."""
        value = self._typed(name, ("float", "int"), fallback)
        if value is None:
            raise ConfigError(f"{name} is not set")
        return float(value)

    def flag(self, name: str) -> bool:
        return bool(self._typed(name, ("bool",)))

    def items(self, name: str) -> list[str]:
        value = self._typed(name, ("list",))
        return [] if value is None else list(value)

    def path(self, name: str, fallback: Optional[Path] = None) -> Path:
        value = self._typed(name, ("path",), fallback)
        if value is None:
            raise ConfigError(f"{name} is not set")
        return Path(value)

    def __getattr__(self, attribute: str) -> Any:
        s = _BY_ATTRIBUTE.get(attribute)
        if s is None:
            raise AttributeError(f"no setting named {attribute!r} (bot/config/)")
        return self.value(s.name)


_LIVE = Settings()


def settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """The settings of the process environment (read live), or of ``env`` when given."""
    return _LIVE if env is None else Settings(env)


def setting(name: str, env: Optional[Mapping[str, str]] = None) -> Any:
    """The typed value of ``name`` (its default when unset)."""
    return settings(env).value(name)


# --- the reference ------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _shown_default(s: Setting) -> str:
    if s.shown:
        return s.shown
    default = s.default
    if default is None or default == "" or default == ():
        return "—"
    if isinstance(default, bool):
        return f"`{int(default)}`"
    if isinstance(default, tuple):
        return f"`{','.join(default)}`"
    return f"`{default}`"


def markdown() -> str:
    """docs/configuration.md."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m bot.config --markdown > docs/configuration.md` from bot/config/:",
        "     do not edit; tests/unit/architecture/test_config.py fails when this file and the registry differ. -->",
        "",
        "Every environment variable madoguchi reads, by area. bot/, actions/, staff/, tools/ and deploy/ read",
        "them through `bot.config` only (`config.settings().text(...)`, `.integer(...)`, …), never `os.environ`",
        "(tests/unit/architecture/test_config.py checks it); the areas below say which variables other parts still read themselves.",
        "",
        "* Unset, empty or blank means the default. `—`: no default (unset, or the reader says what then).",
        "* `int` and `float` must be numbers, `bool` is `1` or `0`; anything else is an error naming the",
        "  variable (where a description says so, the reader falls back to the default instead). A `list` is",
        "  separated by commas; items are stripped.",
        "* A secret never goes on a command line (deploy/processes.py, tests/security check the units' and",
        "  the launcher's commands); `python -m bot.config`, which lists this environment's values, hides it.",
        "* A deprecated name is still read when the current one is unset, with a warning.",
        "",
    ]
    for area, about in AREAS:
        members = [s for s in SETTINGS if s.area == area]
        lines += [f"## {area}", "", about, "", "| Variable | Type | Default | Secret | What it does |"]
        lines.append("|---|---|---|---|---|")
        for s in members:
            name = f"`{s.name}`" + "".join(f" (deprecated: `{a}`)" for a in s.aliases)
            lines.append(
                f"| {name} | {s.kind} | {_cell(_shown_default(s))} | {'yes' if s.secret else ''} "
                f"| {_cell(s.description)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _show(env: Optional[Mapping[str, str]] = None) -> str:
    """Each setting's value in ``env`` (the process environment when None), secrets hidden."""
    cfg = settings(env)
    out = []
    for s in SETTINGS:
        source = cfg.source(s.name)
        if source is None:
            value = f"(default) {_shown_default(s)}"
        elif s.secret:
            value = "(set, hidden)"
        else:
            value = repr(cfg.value(s.name))
        out.append(f"{s.name}={value}" + (f"  [from {source}]" if source not in (None, s.name) else ""))
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m bot.config --markdown``: the reference; without arguments: this environment's values."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if not args:
        try:
            print(_show())
        except ConfigError as exc:
            print(f"configuration: {exc}", file=sys.stderr)
            return 2
        return 0
    print("usage: python -m bot.config [--markdown]", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
