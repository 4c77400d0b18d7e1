"""Accounts, sessions and the audit log: a small SQLite file of its own, apart from the history.

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 defaults); session tokens are stored
only as SHA-256 hashes, so a copy of this file cannot be used to sign in or to ride a session.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["operator", "staff", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
_USERNAME_RE = re.compile(USERNAME_PATTERN)
MIN_PASSWORD, MAX_PASSWORD = 10, 256

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the account does not exist, so a wrong name costs as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A user or password that cannot be accepted; the message says what was expected."""


def check_username(name: str) -> str:
    if not _USERNAME_RE.match(name):
        raise AccountError(
            f"user name must match {USERNAME_PATTERN} (2–32 lowercase letters, digits, . _ -), got {name!r}")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long, got {len(password)}")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists; slow on purpose (memory-hard)."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when a hash was made with weaker Argon2 parameters than the current ones."""
    return _hasher.check_needs_rehash(stored_hash)


def fresh_hash(password: str) -> str:
    """A hash with the current parameters, of a password already accepted (no length rule applied)."""
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _v1(db: sqlite_utils.Database) -> None:
    db.table("users").create({"name": str, "role": str, "password_hash": str, "created_at": float,
                        "password_changed_at": float, "last_signin_at": float}, pk="name")
    db.table("sessions").create({"token_hash": str, "user": str, "role": str, "csrf": str, "kiosk_key": str,
                           "created_at": float, "last_seen": float, "expires_at": float}, pk="token_hash")
    db.table("sessions").create_index(["user"])
    db.table("audit").create({"id": int, "at": float, "user": str, "role": str, "action": str, "filters": str,
                        "rows": int, "address": str}, pk="id")
    db.table("audit").create_index(["at"])
    db.table("audit").create_index(["user", "at"])


# Append only: an accounts file is upgraded in place by running the steps it has not seen.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: float
    last_signin_at: float | None


@dataclass(frozen=True)
class Session:
    token_hash: str
    user: str
    role: str  # operator | staff | admin | kiosk
    csrf: str
    kiosk_key: str | None
    expires_at: float


class Accounts:
    """One connection; use it from one thread (the web server's event loop, or a CLI command)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        for number, step in enumerate(MIGRATIONS, start=1):
            if self.db.execute("PRAGMA user_version").fetchone()[0] < number:
                with self.db.conn:
                    step(self.db)
                    self.db.execute(f"PRAGMA user_version = {number}")

    # ------------------------------------------------------------ users
    def users(self) -> list[User]:
        return [User(r["name"], r["role"], r["created_at"], r["last_signin_at"])
                for r in self.db.query("SELECT * FROM users ORDER BY name")]

    def user(self, name: str) -> User | None:
        row = next(self.db.query("SELECT * FROM users WHERE name = ?", [name]), None)
        return User(row["name"], row["role"], row["created_at"], row["last_signin_at"]) if row else None

    def password_hash(self, name: str) -> str | None:
        row = next(self.db.query("SELECT password_hash FROM users WHERE name = ?", [name]), None)
        return row["password_hash"] if row else None

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        check_username(name)
        check_role(role)
        if self.user(name) is not None:
            raise AccountError(f"user {name!r} already exists")
        now = time.time()
        with self.db.conn:
            self.db.table("users").insert({"name": name, "role": role, "password_hash": password_hash,
                                           "created_at": now, "password_changed_at": now, "last_signin_at": None})

    def set_password(self, name: str, password_hash: str) -> None:
        """Also ends every session of the user: whoever knew the old password is signed out."""
        if self.user(name) is None:
            raise AccountError(f"no user {name!r}")
        with self.db.conn:
            self.db.execute("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE name = ?",
                            [password_hash, time.time(), name])
            self.db.execute("DELETE FROM sessions WHERE user = ?", [name])

    def remove_user(self, name: str) -> None:
        if self.user(name) is None:
            raise AccountError(f"no user {name!r}")
        with self.db.conn:
            self.db.execute("DELETE FROM users WHERE name = ?", [name])
            self.db.execute("DELETE FROM sessions WHERE user = ?", [name])

    def admins(self) -> int:
        return self.db.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()[0]

    def replace_hash(self, name: str, password_hash: str) -> None:
        """Store a stronger hash of the same password (sessions stay)."""
        with self.db.conn:
            self.db.execute("UPDATE users SET password_hash = ? WHERE name = ?", [password_hash, name])

    # ------------------------------------------------------------ sessions
    def start_session(self, user: str, role: str, lifetime_s: float,
                      kiosk_key: str | None = None) -> tuple[str, Session]:
        """A new random session token (returned once, for the cookie) and the stored session."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(token_hash(token), user, role, secrets.token_urlsafe(32), kiosk_key, now + lifetime_s)
        with self.db.conn:
            self.db.table("sessions").insert({"token_hash": session.token_hash, "user": user, "role": role,
                                        "csrf": session.csrf, "kiosk_key": kiosk_key, "created_at": now,
                                        "last_seen": now, "expires_at": session.expires_at})
            if kiosk_key is None:
                self.db.execute("UPDATE users SET last_signin_at = ? WHERE name = ?", [now, user])
            self.db.execute("DELETE FROM sessions WHERE expires_at < ?", [now])
        return token, session

    def session(self, token: str, idle_s: float) -> Session | None:
        """The live session of a cookie token, or None; a session unused for `idle_s` is ended."""
        row = next(self.db.query("SELECT * FROM sessions WHERE token_hash = ?", [token_hash(token)]), None)
        if row is None:
            return None
        now = time.time()
        if row["expires_at"] < now or (row["kiosk_key"] is None and row["last_seen"] + idle_s < now):
            self.end_session(row["token_hash"])
            return None
        role = row["role"]
        if row["kiosk_key"] is None:
            user = self.user(row["user"])
            if user is None:
                self.end_session(row["token_hash"])
                return None
            role = user.role  # a role changed by an admin applies at once
        if now - row["last_seen"] > 60:  # a write per minute at most, not one per request
            with self.db.conn:
                self.db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", [now, row["token_hash"]])
        return Session(row["token_hash"], row["user"], role, row["csrf"], row["kiosk_key"], row["expires_at"])

    def end_session(self, token_hash_: str) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash_])
