"""`python -m staff.users create --username U --role staff|supervisor` (make staff-user).

The password comes from MADOGUCHI_STAFF_PASSWORD (non-interactive use) or is asked twice at the
prompt; it must be at least 12 characters. Also: `passwd`, `unlock`, `disable` (a leaver: sessions
end, login refused), `list`. Every change is written to the audit log as `cli:<login>` from `cli`.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot import config
from bot.store.audit import Origin, origin
from staff.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    create_user,
    disable,
    list_users,
    set_password,
    unlock,
)
from staff.models import Role

ENV_PASSWORD = "MADOGUCHI_STAFF_PASSWORD"


def _password() -> str:
    from_env = config.settings().raw(ENV_PASSWORD)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise AccountError(f"no terminal to ask for the password: set {ENV_PASSWORD}")
    first = getpass.getpass(f"Password (at least {MIN_PASSWORD_LENGTH} characters): ")
    if getpass.getpass("Repeat the password: ") != first:
        raise AccountError("the passwords differ")
    return first


def _ask(value: str | None, prompt: str) -> str:
    if value:
        return value
    if not sys.stdin.isatty():
        raise AccountError(f"missing {prompt}")
    return input(f"{prompt}: ").strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m staff.users", description="staff accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create an account")
    create.add_argument("--username")
    create.add_argument("--role", choices=Role.ALL, default=None)
    passwd = sub.add_parser("passwd", help="set a new password (ends the account's sessions)")
    passwd.add_argument("--username")
    unlock_p = sub.add_parser("unlock", help="lift a login lockout")
    unlock_p.add_argument("--username")
    disable_p = sub.add_parser("disable", help="disable a leaver's account (ends its sessions)")
    disable_p.add_argument("--username")
    sub.add_parser("list", help="list accounts")
    args = parser.parse_args(argv)
    origin.set(Origin("cli"))
    try:
        if args.command == "create":
            username = _ask(args.username, "username")
            role = args.role or (_ask(None, "role (staff/supervisor)") if sys.stdin.isatty() else Role.STAFF)
            user = create_user(username, _password(), role)
            print(f"created {user.username} ({user.role})")
        elif args.command == "passwd":
            username = _ask(args.username, "username")
            set_password(username, _password())
            print(f"password changed for {username}; its sessions have ended")
        elif args.command == "unlock":
            username = _ask(args.username, "username")
            unlock(username)
            print(f"unlocked {username}")
        elif args.command == "disable":
            username = _ask(args.username, "username")
            disable(username)
            print(f"disabled {username}; its sessions have ended and it can no longer log in")
        else:
            for username, role, locked in list_users():
                print(f"{username}\t{role}" + (f"\tlocked until {locked:%Y-%m-%d %H:%M} UTC" if locked else ""))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
