"""`python -m deploy.local_env [PATH]`: a production.env for trying the two-instance setup here.

Copies deploy/production.env.example to PATH (default deploy/production.env, mode 0600) with
fresh keys filled in (pseudonyms, encryption, statistics, staff sessions, Rasa's API token). Never changes a value
of an existing file: a real deployment's keys must not change, or pseudonyms and encrypted data
become unreadable. A file written by an older version gets only the variables it lacks appended
(new keys generated), since production refuses to start without them.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

EXAMPLE = Path(__file__).resolve().parent / "production.env.example"


def _new_keys() -> dict[str, str]:
    return {
        "MADOGUCHI_SENDER_KEY": secrets.token_hex(32),
        "MADOGUCHI_FERNET_KEYS": Fernet.generate_key().decode(),
        "MADOGUCHI_STATS_KEY": secrets.token_hex(32),
        "MADOGUCHI_STAFF_SECRET": secrets.token_hex(32),
        "RASA_API_TOKEN": secrets.token_hex(24),
    }


def render(example: str) -> str:
    for name, value in _new_keys().items():
        example = re.sub(rf"^{name}=$", f"{name}={value}", example, flags=re.MULTILINE)
    return example


def _names(text: str) -> dict[str, str]:
    """Variable → its line, in order."""
    return {
        line.split("=", 1)[0]: line for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")
    }


def missing_lines(existing: str, rendered: str) -> list[str]:
    have = _names(existing)
    return [line for name, line in _names(rendered).items() if name not in have]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else EXAMPLE.with_name("production.env")
    rendered = render(EXAMPLE.read_text(encoding="utf-8"))
    if path.exists():
        lines = missing_lines(path.read_text(encoding="utf-8"), rendered)
        if lines:
            with path.open("a", encoding="utf-8") as fh:
                fh.write("# added by deploy.local_env (variables this file lacked)\n" + "\n".join(lines) + "\n")
            print(f"{path} exists; kept every value, added {', '.join(line.split('=', 1)[0] for line in lines)}")
        else:
            print(f"{path} exists; keeping it")
        return 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(rendered)
    print(f"wrote {path} with new keys (LINE variables empty: REST only until you fill them in)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
