"""`python -m deploy.local_env [PATH]`: a production.env for trying the two-instance setup here.

Copies deploy/production.env.example to PATH (default deploy/production.env, mode 0600) with a
fresh pseudonym key, Fernet key and Rasa API token filled in. Never overwrites an existing file: a real
deployment's keys must not change, or pseudonyms and encrypted tickets become unreadable.
"""
from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

EXAMPLE = Path(__file__).resolve().parent / "production.env.example"


def render(example: str) -> str:
    keys = {"MADOGUCHI_SENDER_KEY": secrets.token_hex(32), "MADOGUCHI_FERNET_KEYS": Fernet.generate_key().decode(),
            "RASA_API_TOKEN": secrets.token_hex(24)}
    for name, value in keys.items():
        example = re.sub(rf"^{name}=$", f"{name}={value}", example, flags=re.MULTILINE)
    return example


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else EXAMPLE.with_name("production.env")
    if path.exists():
        print(f"{path} exists; keeping it")
        return 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render(EXAMPLE.read_text(encoding="utf-8")))
    print(f"wrote {path} with new keys (LINE variables empty: REST only until you fill them in)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
