"""`lanewatch-central users add|remove|passwd|list`: the accounts of the central's pages.

Passwords are read twice from the terminal, or once from standard input with --password-stdin
(for scripts: `printf '%s\\n' "$PW" | lanewatch-central users add ...`); never from the command line,
where other users of the machine could read them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from central.accounts import ROLES, AccountError, Accounts, check_password, check_role, check_username, hash_password
from central.config import CentralConfig
from lanewatch.config import load_config

EXAMPLES = {
    "add": "lanewatch-central users add --config central.yaml --role staff lan.nguyen",
    "remove": "lanewatch-central users remove --config central.yaml lan.nguyen",
    "passwd": "lanewatch-central users passwd --config central.yaml lan.nguyen",
    "list": "lanewatch-central users list --config central.yaml",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `users` and its commands on lanewatch-central's sub-command parser."""
    users = sub.add_parser("users", help="manage the accounts of the board and history pages",
                           epilog=f"example: {EXAMPLES['add']}")
    commands = users.add_subparsers(dest="users_command", required=True)
    for name, help_text in (("add", "add an account"), ("remove", "remove an account and end its sessions"),
                            ("passwd", "set a new password and end the account's sessions"),
                            ("list", "list the accounts")):
        cmd = commands.add_parser(name, help=help_text, epilog=f"example: {EXAMPLES[name]}")
        cmd.add_argument("--config", required=True, help="central config file (YAML)")
        if name != "list":
            cmd.add_argument("username", help="account name: 2–32 lowercase letters, digits, . _ -")
        if name == "add":
            cmd.add_argument("--role", required=True, choices=ROLES,
                             help="operator: board; staff: board, history, export; admin: also accounts and audit")
        if name in ("add", "passwd"):
            cmd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.set_defaults(func=run)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AccountError("the two passwords differ")
    return check_password(password)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, CentralConfig)
    accounts = Accounts(config.web.accounts_path(config.database))
    try:
        if args.users_command == "list":
            for user in accounts.users():
                last = (datetime.fromtimestamp(user.last_signin_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                        if user.last_signin_at else "never signed in")
                print(f"{user.name}\t{user.role}\t{last}")
            return 0
        name = check_username(args.username)
        if args.users_command == "add":
            check_role(args.role)
            if accounts.user(name) is not None:
                raise AccountError(f"user {name!r} already exists")
            accounts.add_user(name, args.role, hash_password(_password(args)))
            print(f"added {name} ({args.role})")
        elif args.users_command == "passwd":
            if accounts.user(name) is None:
                raise AccountError(f"no user {name!r}")
            accounts.set_password(name, hash_password(_password(args)))
            print(f"new password set for {name}; their sessions have ended")
        elif args.users_command == "remove":
            accounts.remove_user(name)
            print(f"removed {name}")
    except AccountError as exc:
        print(f"lanewatch-central users: {exc}", file=sys.stderr)
        return 2
    return 0
