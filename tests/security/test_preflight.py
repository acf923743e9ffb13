"""deploy/preflight.py: the start-time policy (issue 12, findings 1, 4 and 7). The start scripts
refusing to start is tested for real in test_start_scripts.py and tests/production."""

from __future__ import annotations

from typing import Any

import pytest

from bot.security.netaddr import is_loopback
from deploy.preflight import local_problems, main, production_problems
from deploy.processes import PROCESSES

TOKEN = "0123456789abcdef0123"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "::1%lo", "localhost", "LOCALHOST"])
def test_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.200.0.1", "192.0.2.2", "madoguchi.example.jp", ""])
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_local_default_needs_nothing() -> None:
    assert local_problems({}) == []
    assert local_problems({"HOST": "127.0.0.1"}) == []


def test_local_on_all_interfaces_needs_both_tokens() -> None:
    problems = local_problems({"HOST": "0.0.0.0"})
    assert len(problems) == 2
    assert "RASA_API_TOKEN" in problems[0] and "HOST=0.0.0.0" in problems[0] and "127.0.0.1" in problems[0]
    assert "MADOGUCHI_REST_TOKEN" in problems[1]
    assert local_problems({"HOST": "0.0.0.0", "RASA_API_TOKEN": TOKEN, "MADOGUCHI_REST_TOKEN": TOKEN}) == []


def test_a_short_token_is_no_token() -> None:
    [problem] = local_problems({"HOST": "0.0.0.0", "RASA_API_TOKEN": "secret", "MADOGUCHI_REST_TOKEN": TOKEN})
    assert "shorter than 16" in problem


def test_production_always_needs_the_api_token() -> None:
    [problem] = production_problems({"LB_HOST": "127.0.0.1"})
    assert "RASA_API_TOKEN" in problem
    assert production_problems({"RASA_API_TOKEN": TOKEN}) == []


def test_public_rest_needs_its_own_token() -> None:
    env = {"RASA_API_TOKEN": TOKEN, "MADOGUCHI_REST_PUBLIC": "1"}
    [problem] = production_problems(env)
    assert "MADOGUCHI_REST_TOKEN" in problem
    assert production_problems({**env, "MADOGUCHI_REST_TOKEN": TOKEN}) == []


@pytest.mark.parametrize("value", ["yes", "true", "on", "2"])
def test_public_rest_switch_is_zero_or_one(value: str) -> None:
    # The value is rendered into nginx's geo default: anything but 0/1 must not start.
    [problem] = production_problems(
        {"RASA_API_TOKEN": TOKEN, "MADOGUCHI_REST_PUBLIC": value, "MADOGUCHI_REST_TOKEN": TOKEN}
    )
    assert "MADOGUCHI_REST_PUBLIC" in problem


def test_the_token_is_not_sent_in_clear_to_another_machine() -> None:
    env = {"RASA_API_TOKEN": TOKEN}
    assert production_problems({**env, "MADOGUCHI_RASA_URL": "http://127.0.0.1:5006"}) == []
    assert production_problems({**env, "MADOGUCHI_RASA_URL": "https://rasa.internal.example:5005"}) == []
    [problem] = production_problems({**env, "MADOGUCHI_RASA_URL": "http://10.0.0.5:5005"})
    assert "MADOGUCHI_RASA_URL" in problem


def test_cli_exit_codes_and_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["production"], env={}) == 2
    assert "refusing to start: RASA_API_TOKEN" in capsys.readouterr().err
    assert main(["production"], env=full_production_env()) == 0
    assert capsys.readouterr().err == ""
    assert main(["nonsense"], env={}) == 2


def full_production_env() -> dict[str, str]:
    return {**{n: "set" for p in PROCESSES for n in p.needs}, "RASA_API_TOKEN": TOKEN}


@pytest.mark.parametrize("name", ["MADOGUCHI_FERNET_KEYS", "MADOGUCHI_REDIS_HOST", "MADOGUCHI_STAFF_SECRET"])
def test_production_refuses_a_start_without_what_a_process_needs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21 (M-6): every unit runs the preflight for its own process (ExecStartPre)."""
    env = {k: v for k, v in full_production_env().items() if k != name}
    assert main(["production"], env=env) == 2
    assert f"refusing to start: {name} is not set" in capsys.readouterr().err
    # Each unit checks its own process: the purge starts without the staff app's session key.
    assert {p.name: main(["production", p.name], env=env) for p in PROCESSES} == {
        p.name: 2 if name in p.needs else 0 for p in PROCESSES
    }
    assert main(["production", "nonsense"], env=full_production_env()) == 2


def test_production_keeps_the_action_server_on_loopback() -> None:
    """Issue 21: the env file overrides the units' SANIC_HOST=127.0.0.1, so the preflight checks it."""
    assert production_problems({"RASA_API_TOKEN": TOKEN, "SANIC_HOST": "127.0.0.1"}) == []
    [problem] = production_problems({"RASA_API_TOKEN": TOKEN, "SANIC_HOST": "0.0.0.0"})
    assert "SANIC_HOST=0.0.0.0" in problem


# --- issue 21 (Low): weak or absent channel secrets -------------------------------------------------
LINE_OK = {
    "LINE_CHANNEL_SECRET": "8c2b5e3f0a914d7e9b6c1a2f3e4d5c6b",
    "LINE_CHANNEL_ACCESS_TOKEN": "k3Jv9QmZ/x+T7pWq2" * 6,
}
TELEGRAM_OK = {
    "TELEGRAM_BOT_TOKEN": "7012345678:AAH3kq9Zp_xW2vB7nT-4mQ8rL1sD6fY0cE5",
    "TELEGRAM_SECRET_TOKEN": "f3b9c1d7e2a84c6b9d0e",
}


def test_production_accepts_real_looking_channel_secrets_and_channels_left_off() -> None:
    base = {"RASA_API_TOKEN": TOKEN}
    assert production_problems(base) == []  # both channels off
    assert production_problems({**base, **LINE_OK}) == []
    assert production_problems({**base, **TELEGRAM_OK}) == []
    assert production_problems({**base, **LINE_OK, **TELEGRAM_OK}) == []


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("LINE_CHANNEL_SECRET", "", "is empty"),
        ("LINE_CHANNEL_ACCESS_TOKEN", "", "is empty"),
        ("LINE_CHANNEL_SECRET", "changeme", "placeholder"),
        ("LINE_CHANNEL_SECRET", "<your channel secret>", "placeholder"),
        ("LINE_CHANNEL_SECRET", "${LINE_CHANNEL_SECRET}", "placeholder"),
        ("LINE_CHANNEL_ACCESS_TOKEN", "your-line-access-token-here", "placeholder"),
        ("LINE_CHANNEL_SECRET", "0000000000000000000000000000000", "placeholder"),
        ("LINE_CHANNEL_SECRET", "3f2a9c", "shorter than 16"),
        ("LINE_CHANNEL_ACCESS_TOKEN", "short-token", "shorter than 16"),
        ("TELEGRAM_BOT_TOKEN", "", "is empty"),
        ("TELEGRAM_SECRET_TOKEN", "", "is empty"),
        ("TELEGRAM_BOT_TOKEN", "7012345678:AAH3kq9", "shorter than 16"),
        ("TELEGRAM_BOT_TOKEN", "AAH3kq9Zp_xW2vB7nT-4mQ8rL1sD6fY0cE5", "not a bot token"),
        ("TELEGRAM_SECRET_TOKEN", "secret", "placeholder"),
        ("TELEGRAM_SECRET_TOKEN", "s3cr3t", "shorter than 16"),
        ("TELEGRAM_SECRET_TOKEN", "xxxxxxxxxxxxxxxxxxxxxxxx", "placeholder"),
    ],
)
def test_production_refuses_a_weak_or_missing_channel_secret(
    name: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"RASA_API_TOKEN": TOKEN, **LINE_OK, **TELEGRAM_OK, name: value}
    [problem] = production_problems(env)
    assert problem.startswith(f"{name} ") and why in problem
    assert len(value) < 8 or value not in problem  # the message never echoes a secret
    assert main(["production", "rasa"], env={**full_production_env(), **env}) == 2
    assert f"refusing to start: {name}" in capsys.readouterr().err


def test_a_value_copied_from_an_env_example_is_a_placeholder(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy import preflight

    example = LINE_OK["LINE_CHANNEL_SECRET"]
    (tmp_path / "production.env.example").write_text(f"# sample\nLINE_CHANNEL_SECRET={example}\n", encoding="utf-8")
    monkeypatch.setattr(preflight, "_EXAMPLES", tmp_path)
    [problem] = production_problems({"RASA_API_TOKEN": TOKEN, **LINE_OK})
    assert "LINE_CHANNEL_SECRET is a placeholder" in problem


def test_the_committed_examples_fail_when_a_channel_is_half_filled() -> None:
    # deploy/production.env.example leaves both LINE values empty: filling one is not enough.
    [problem] = production_problems(
        {"RASA_API_TOKEN": TOKEN, "LINE_CHANNEL_ACCESS_TOKEN": LINE_OK["LINE_CHANNEL_ACCESS_TOKEN"]}
    )
    assert "LINE_CHANNEL_SECRET is empty" in problem and "turn the channel off" in problem
