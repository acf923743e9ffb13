"""The one reader of environment variables (issue 19): bot/config/ declares every setting,
docs/configuration.md is generated from it, and nothing else reads the environment.

* the committed reference equals the generated one (drift fails, and says how to regenerate);
* no module of bot/, actions/, staff/, tools/ or deploy/ reads ``os.environ`` or ``os.getenv``
  outside bot/config/ (a child process's environment built from it is allowed only where
  listed below);
* every variable the env example, the README, docs/ and the endpoints files name is declared;
* typed parsing: defaults, 1/0 flags, numbers, lists, clear errors, live reads, the old name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator

import pytest

from bot import config
from bot.config import ConfigError, UnknownSetting

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "docs" / "configuration.md"
REGENERATE = ".venv/bin/python -m bot.config --markdown > docs/configuration.md"

# Where settings may not be read except through bot.config. channels/ is left out for now: its
# reads (channels/common.py, rest.py, richmenu.py, telegram_admin.py) move to bot.config in the
# follow-up to the channels rewrite of issue 19, which then adds "channels" here. scripts/ and
# tests/ are run by path or by pytest and keep their own reads (docs/configuration.md says which).
SCANNED = ("bot", "actions", "channels", "staff", "tools", "deploy")
#: Uses of os.environ that are not reads of a setting, by file (path under the root): "child"
#: builds the environment of a child process from this one ({**os.environ, …}, os.environ.copy(),
#: dict(os.environ)), "write" sets a variable for children (os.environ[NAME] = …). None so far.
ALLOWED: dict[str, set[str]] = {}
ENV_FUNCTIONS = {"environ", "environb", "getenv", "getenvb"}
ACCESSORS = {"raw", "source", "is_set", "require", "value", "text", "integer", "number", "flag", "items", "path"}


# --- the reference ------------------------------------------------------------------------------
def test_the_committed_reference_is_the_generated_one() -> None:
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert committed == config.markdown(), (
        f"docs/configuration.md differs from the registry in bot/config/: regenerate it with `{REGENERATE}`"
    )


def test_the_reference_lists_every_setting_once_under_its_area() -> None:
    text = config.markdown()
    for s in config.SETTINGS:
        assert len(re.findall(rf"^\| `{s.name}`", text, flags=re.MULTILINE)) == 1, s.name
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [area for area, _ in config.AREAS]


def test_every_declaration_is_complete() -> None:
    types = {"str": str, "url": str, "path": str, "int": int, "float": float, "bool": bool, "list": tuple}
    for s in config.SETTINGS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*[A-Z0-9]", s.name), s.name
        assert s.description and "\n" not in s.description, s.name
        # English, one line: no Japanese (nor other non-ASCII) text.
        assert s.description.isascii() and s.shown.isascii(), s.name
        assert s.description.rstrip().endswith((".", ")")), s.name
        if s.default is not None:
            assert type(s.default) is types[s.kind], f"{s.name}: default {s.default!r} is not a {s.kind}"
    assert set(config.secret_names()) >= {
        "RASA_API_TOKEN",
        "MADOGUCHI_SENDER_KEY",
        "MADOGUCHI_FERNET_KEYS",
        "MADOGUCHI_STATS_KEY",
        "MADOGUCHI_STAFF_SECRET",
        "MADOGUCHI_REST_TOKEN",
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_ACCESS_TOKEN",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_SECRET_TOKEN",
    }


# --- no other reader ----------------------------------------------------------------------------
def _os_names(tree: ast.AST) -> set[str]:
    """The names the module binds to ``os`` (import os, import os as x)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name for alias in node.names if alias.name == "os"}
    return names


def environment_uses(source: str) -> Iterator[tuple[int, str]]:
    """(line, "read" | "child" | "write") for each use of the process environment in ``source``."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    os_names = _os_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ENV_FUNCTIONS for alias in node.names):
                yield node.lineno, "read"
            continue
        if not (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_FUNCTIONS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            continue
        parent = parents.get(node)
        grand = parents.get(parent) if parent is not None else None
        if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del)):
            yield node.lineno, "write"
        elif isinstance(parent, ast.Attribute) and parent.attr == "copy" and isinstance(grand, ast.Call):
            yield node.lineno, "child"
        elif isinstance(parent, ast.Dict) and any(k is None and v is node for k, v in zip(parent.keys, parent.values)):
            yield node.lineno, "child"
        elif isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "dict":
            yield node.lineno, "child"
        else:
            yield node.lineno, "read"


def scanned_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path != ROOT / "bot" / "config" / "__init__.py" and ".venv" not in path.parts:
                yield path


def test_nothing_but_bot_config_reads_the_environment() -> None:
    found = []
    for path in scanned_files():
        rel = path.relative_to(ROOT).as_posix()
        for line, use in environment_uses(path.read_text(encoding="utf-8")):
            if use not in ALLOWED.get(rel, set()):
                found.append(f"{rel}:{line}: {use} of os.environ (read it through bot.config)")
    assert found == []


def test_the_allowed_child_environments_are_still_there() -> None:
    """An entry of ALLOWED that no longer matches anything is removed, not kept as a loophole."""
    assert all(uses <= {"child", "write"} for uses in ALLOWED.values())
    for rel, uses in ALLOWED.items():
        assert {use for _, use in environment_uses((ROOT / rel).read_text(encoding="utf-8"))} == uses, rel


def test_the_scan_sees_what_it_must_refuse() -> None:
    sample = "\n".join(
        [
            "import os",
            "import os as system",
            "from os import getenv",
            "a = os.environ.get('X')",
            "b = os.getenv('X')",
            "c = os.environ['X']",
            "d = system.environ",
            "os.environ['Y'] = '1'",
            "e = {**os.environ, 'Z': '1'}",
            "f = os.environ.copy()",
            "g = dict(os.environ)",
            "h = 'X' in os.environ",
        ]
    )
    assert sorted(environment_uses(sample)) == [
        (3, "read"),
        (4, "read"),
        (5, "read"),
        (6, "read"),
        (7, "read"),
        (8, "write"),
        (9, "child"),
        (10, "child"),
        (11, "child"),
        (12, "read"),
    ]


def _reads_a_setting(func: ast.expr) -> bool:
    """config.settings(…).integer(…), cfg.text(…), config.setting(…): not sqlalchemy's sa.text(…)."""
    if isinstance(func, ast.Name):
        return func.id in ("setting", "spec")
    if not isinstance(func, ast.Attribute):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Name) and receiver.id in ("config", "bot_config"):
        return func.attr in ("setting", "spec")
    if isinstance(receiver, ast.Name) and receiver.id == "cfg":
        return func.attr in ACCESSORS
    if isinstance(receiver, ast.Call):
        inner = receiver.func
        named = inner.attr if isinstance(inner, ast.Attribute) else inner.id if isinstance(inner, ast.Name) else ""
        return named == "settings" and func.attr in ACCESSORS
    return False


def test_every_name_given_to_an_accessor_is_declared() -> None:
    """``cfg.integer("NAME")`` with a name the registry lacks would fail only when that line runs."""
    seen, unknown = set(), []
    for path in scanned_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            name = node.args[0].value
            if _reads_a_setting(node.func) and isinstance(name, str):
                seen.add(name)
                try:
                    config.spec(name)
                except UnknownSetting:
                    unknown.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert unknown == []
    assert {"MADOGUCHI_DB_URL", "MADOGUCHI_STAFF_PROXIES", "RUN_DIR", "MADOGUCHI_CV_SEED"} <= seen


# --- every documented variable is declared -------------------------------------------------------
def documented_files() -> list[Path]:
    return [
        ROOT / "deploy" / "production.env.example",
        ROOT / "deploy" / "endpoints.production.yml",
        ROOT / "deploy" / "systemd" / "README.md",
        ROOT / "endpoints.yml",
        ROOT / "credentials.yml",
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]


def test_every_documented_madoguchi_variable_is_declared() -> None:
    # A name ending in _ (docs/security.md's "MADOGUCHI_PG_*", variables that are gone) is a
    # family, not a variable: the pattern ends on a letter or digit and a word boundary.
    known = {n for s in config.SETTINGS for n in (s.name, *s.aliases)}
    missing = []
    for path in documented_files():
        for name in sorted(set(re.findall(r"\bMADOGUCHI_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))):
            if name not in known:
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert missing == []


def test_every_variable_of_the_env_example_and_the_processes_is_declared() -> None:
    from bot.security.keys import PRODUCTION_SECRETS
    from deploy.processes import PROCESSES, SECRET_NAMES

    example = (ROOT / "deploy" / "production.env.example").read_text(encoding="utf-8")
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE)
    assert names, "no variable found in deploy/production.env.example"
    needs = [n for p in PROCESSES for n in p.needs]
    for name in [*names, *needs, *PRODUCTION_SECRETS]:
        config.spec(name)  # raises UnknownSetting
    assert set(PRODUCTION_SECRETS) <= set(config.secret_names())
    assert SECRET_NAMES == config.secret_names()


# --- reading ------------------------------------------------------------------------------------
def test_defaults_when_unset_empty_or_blank() -> None:
    for env in ({}, {"MADOGUCHI_RETENTION_EVENT_DAYS": ""}, {"MADOGUCHI_RETENTION_EVENT_DAYS": "  "}):
        assert config.settings(env).integer("MADOGUCHI_RETENTION_EVENT_DAYS") == 30
    cfg = config.settings({})
    assert cfg.flag("MADOGUCHI_RASA_FIXES") is True
    assert cfg.flag("MADOGUCHI_STAFF_SECURE_COOKIE") is False
    assert cfg.integer("MADOGUCHI_RETENTION_TICKET_DAYS") == 180
    assert cfg.integer("MADOGUCHI_RETENTION_STATS_LINK_DAYS") == 365
    assert cfg.number("STAFF_NOTIFY_INTERVAL") == 5.0
    assert cfg.items("STAFF_NOTIFY_EMAIL") == [] and cfg.items("MADOGUCHI_TRUSTED_PROXIES") == []
    assert cfg.text("MADOGUCHI_RASA_URL") == "http://127.0.0.1:5005"
    assert cfg.text("MADOGUCHI_DB_URL") == ""  # the reader's own default (SQLite in var/)
    assert cfg.path("MADOGUCHI_VAR_DIR") == ROOT / "var"
    assert cfg.path("MADOGUCHI_DIRECTORY") == ROOT / "directory" / "windows.yml"
    assert cfg.raw("RASA_API_TOKEN") is None and not cfg.is_set("RASA_API_TOKEN")
    assert config.setting("MADOGUCHI_CV_SEED", {}) == 42


def test_typed_values() -> None:
    cfg = config.settings(
        {
            "MADOGUCHI_RETENTION_EVENT_DAYS": " 45 ",
            "MADOGUCHI_STAFF_SESSION_MAX_HOURS": "1.5",
            "MADOGUCHI_RASA_FIXES": "0",
            "MADOGUCHI_STAFF_SECURE_COOKIE": "1",
            "STAFF_NOTIFY_EMAIL": " a@example.jp, b@example.jp ,,",
            "MADOGUCHI_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8 ::1",
            "MADOGUCHI_VAR_DIR": "/tmp/madoguchi-var",
            "MADOGUCHI_SENDER_KEY": " kept as set ",
        }
    )
    assert cfg.integer("MADOGUCHI_RETENTION_EVENT_DAYS") == 45
    assert cfg.number("MADOGUCHI_STAFF_SESSION_MAX_HOURS") == 1.5
    assert cfg.flag("MADOGUCHI_RASA_FIXES") is False and cfg.flag("MADOGUCHI_STAFF_SECURE_COOKIE") is True
    assert cfg.items("STAFF_NOTIFY_EMAIL") == ["a@example.jp", "b@example.jp"]
    assert cfg.items("MADOGUCHI_TRUSTED_PROXIES") == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert cfg.path("MADOGUCHI_VAR_DIR") == Path("/tmp/madoguchi-var")
    assert cfg.raw("MADOGUCHI_SENDER_KEY") == " kept as set "  # a secret is used exactly as given
    assert cfg.value("MADOGUCHI_RETENTION_EVENT_DAYS") == 45
    assert cfg.retention_event_days == 45 and cfg.var_dir == Path("/tmp/madoguchi-var")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("MADOGUCHI_RETENTION_EVENT_DAYS", "thirty", "must be a whole number"),
        ("MADOGUCHI_RETENTION_EVENT_DAYS", "30.5", "must be a whole number"),
        ("MADOGUCHI_STAFF_SESSION_MAX_HOURS", "8h", "must be a number"),
        ("MADOGUCHI_STAFF_SECURE_COOKIE", "yes", "must be 1 or 0"),
    ],
)
def test_a_bad_value_is_a_clear_error(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.setting(name, {name: value})
    assert name in str(caught.value) and says in str(caught.value) and repr(value) in str(caught.value)
    assert isinstance(caught.value, ValueError)  # what callers that fall back already catch


def test_reads_are_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_RETENTION_EVENT_DAYS", "7")
    assert config.settings().integer("MADOGUCHI_RETENTION_EVENT_DAYS") == 7
    monkeypatch.setenv("MADOGUCHI_RETENTION_EVENT_DAYS", "8")
    assert config.setting("MADOGUCHI_RETENTION_EVENT_DAYS") == 8
    from bot.domain.retention import event_retention

    assert event_retention().days == 8
    monkeypatch.delenv("MADOGUCHI_RETENTION_EVENT_DAYS")
    assert event_retention().days == 30


def test_unknown_names_raise() -> None:
    with pytest.raises(UnknownSetting, match="not a setting"):
        config.settings({}).text("MADOGUCHI_NO_SUCH_THING")
    with pytest.raises(UnknownSetting):
        config.setting("PATH", {"PATH": "/usr/bin"})
    with pytest.raises(AttributeError):
        config.settings({}).no_such_thing  # noqa: B018
    with pytest.raises(TypeError, match="is declared as int, not str/url"):
        config.settings({}).text("MADOGUCHI_RETENTION_EVENT_DAYS")
    with pytest.raises(TypeError, match="has its default"):
        config.settings({}).integer("MADOGUCHI_RETENTION_EVENT_DAYS", fallback=1)
    with pytest.raises(ConfigError, match="RUN_DIR is not set"):
        config.settings({}).require("RUN_DIR")
    with pytest.raises(ConfigError, match="RASA1_PORT is not set"):
        config.settings({}).integer("RASA1_PORT")
    assert config.settings({}).integer("RASA1_PORT", fallback=5006) == 5006


def test_the_old_name_of_the_rasa_url_is_still_read(caplog: pytest.LogCaptureFixture) -> None:
    old = config.settings({"RASA_URL": "http://127.0.0.1:5999"})
    assert old.text("MADOGUCHI_RASA_URL") == "http://127.0.0.1:5999" and old.source("MADOGUCHI_RASA_URL") == "RASA_URL"
    both = config.settings({"RASA_URL": "http://127.0.0.1:5999", "MADOGUCHI_RASA_URL": "http://127.0.0.1:5006"})
    assert both.text("MADOGUCHI_RASA_URL") == "http://127.0.0.1:5006"
    assert both.source("MADOGUCHI_RASA_URL") == "MADOGUCHI_RASA_URL"
    with pytest.raises(UnknownSetting, match="read MADOGUCHI_RASA_URL"):
        config.settings({}).text("RASA_URL")
    assert "deprecated" in config.spec("MADOGUCHI_RASA_URL").description
    from deploy.preflight import production_problems

    [problem] = production_problems({"RASA_API_TOKEN": "x" * 24, "RASA_URL": "http://10.0.0.5:5005"})
    assert problem.startswith("RASA_URL=http://10.0.0.5:5005 would send RASA_API_TOKEN in clear")


def test_the_listing_hides_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MADOGUCHI_SENDER_KEY", "a-secret-that-must-not-show")
    monkeypatch.setenv("MADOGUCHI_RETENTION_EVENT_DAYS", "31")
    assert config.main([]) == 0
    out = capsys.readouterr().out
    assert "a-secret-that-must-not-show" not in out and "MADOGUCHI_SENDER_KEY=(set, hidden)" in out
    assert "MADOGUCHI_RETENTION_EVENT_DAYS=31" in out
    assert config.main(["--markdown"]) == 0 and capsys.readouterr().out == config.markdown()
