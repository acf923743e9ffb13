"""The shape of one setting: its variable, type, default, secrecy and area (bot.config)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

#: The repository (or installed project) root; a relative path default is taken from here.
ROOT = Path(__file__).resolve().parent.parent.parent

Kind = Literal["str", "int", "float", "bool", "url", "list", "path"]
Default = Union[str, int, float, bool, tuple[str, ...], None]


class ConfigError(ValueError):
    """A setting's value cannot be read as its type, or a required setting is missing."""


class UnknownSetting(KeyError):
    """A name that the registry does not declare (or a deprecated alias, read by its new name)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Setting:
    #: The environment variable.
    name: str
    kind: Kind
    #: The value when unset, of the kind's type (a path: relative to ROOT unless absolute); None:
    #: no default here (the reader gives its own, which ``shown`` describes, or it is required).
    default: Default
    #: What it does and who reads it: one line, English.
    description: str
    area: str
    secret: bool = False
    #: Older names, read (in this order) when ``name`` is unset; deprecated.
    aliases: tuple[str, ...] = ()
    #: The default as the reference shows it, when ``default`` alone does not say it.
    shown: str = ""
    #: What separates the items of a list (a regular expression).
    separator: str = ","

    @property
    def attribute(self) -> str:
        """The attribute name on :class:`Settings`: ``MADOGUCHI_DB_URL`` → ``db_url``."""
        return self.name.removeprefix("MADOGUCHI_").lower()

    def parse(self, raw: str) -> Any:
        value = raw.strip()
        if self.kind == "str":
            return raw
        if self.kind == "url":
            return value
        if self.kind == "path":
            return Path(value)
        if self.kind == "int":
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{self.name} must be a whole number, not {raw!r}") from None
        if self.kind == "float":
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{self.name} must be a number, not {raw!r}") from None
        if self.kind == "bool":
            if value in ("1", "0"):
                return value == "1"
            raise ConfigError(f"{self.name} must be 1 or 0, not {raw!r}")
        return [item.strip() for item in re.split(self.separator, value) if item.strip()]

    def default_value(self) -> Any:
        if self.kind == "path" and isinstance(self.default, str):
            return ROOT / self.default
        if self.kind == "list" and isinstance(self.default, tuple):
            return list(self.default)
        return self.default
