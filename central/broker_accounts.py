"""Broker accounts: who may publish and read which lanewatch topics, and the Mosquitto files that say so.

Three roles, one rule set (the ACL is generated from here, never written by hand):

- an **edge** writes its own lanes' `event` and `status` topics and its own `availability`
  topic, and reads nothing;
- the **central** reads everything under `lanewatch/v1/` and writes lane summaries;
- a **kiosk** (board screen, other agency's consumer) reads summaries only, of one site or all.

Mosquitto 2.0 reads two files: the password file (`user:$7$iterations$salt$hash`, PBKDF2-SHA512)
and the ACL file. We write both ourselves rather than calling `mosquitto_passwd -b`, which would
put the password on a command line that every local user can read in /proc.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import grp
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lanewatch.contract import TOPIC_ROOT, availability_topic, check_id, event_topic, receipt_topic, status_topic

Access = Literal["read", "write", "readwrite"]

# PBKDF2-SHA512 as Mosquitto 2.0 expects it (`$7$`): 12-byte salt, 64-byte digest. Mosquitto's own
# tool uses 101 iterations; generated passwords carry 256 bits, so iterations add little against
# guessing, but a copied password file should still cost an attacker something per try.
PBKDF2_ITERATIONS = 10_000
_SALT_BYTES = 12
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


class AccountFileError(Exception):
    """A password or ACL file that cannot be read or safely rewritten."""


@dataclass(frozen=True)
class AclRule:
    access: Access
    topic: str


@dataclass(frozen=True)
class Account:
    """A broker account: its username and the topics it may use."""

    username: str
    rules: tuple[AclRule, ...]

    def acl_block(self) -> str:
        lines = [f"user {self.username}"] + [f"topic {rule.access} {rule.topic}" for rule in self.rules]
        return "\n".join(lines) + "\n"


def edge_username(site: str, edge_id: str) -> str:
    return f"edge.{check_id('site', site)}.{check_id('edge', edge_id)}"


def edge_account(site: str, edge_id: str, lanes: list[str]) -> Account:
    """Write-only access to the edge's own lanes and its own availability topic."""
    if not lanes:
        raise ValueError("an edge needs at least one lane, got none")
    lanes = [check_id("lane", lane) for lane in lanes]
    if len(set(lanes)) != len(lanes):
        raise ValueError(f"lanes must be distinct, got {lanes}")
    rules = [AclRule("write", event_topic(site, lane)) for lane in lanes]
    rules += [AclRule("write", status_topic(site, lane, edge_id)) for lane in lanes]
    rules.append(AclRule("write", availability_topic(site, edge_id)))
    rules.append(AclRule("read", receipt_topic(site, edge_id)))  # which of its events the central holds
    return Account(edge_username(site, edge_id), tuple(rules))


def central_account(name: str = "central") -> Account:
    """Reads every lanewatch topic, writes lane summaries."""
    return Account(
        _check_username(name),
        (AclRule("read", f"{TOPIC_ROOT}/#"), AclRule("write", f"{TOPIC_ROOT}/+/+/summary"),
         AclRule("write", f"{TOPIC_ROOT}/+/edge/+/receipt")),
    )


def kiosk_account(name: str, site: str | None = None) -> Account:
    """Reads lane summaries only: of one site, or of every site when `site` is None."""
    scope = check_id("site", site) if site else "+"
    return Account(f"kiosk.{check_id('kiosk', name)}", (AclRule("read", f"{TOPIC_ROOT}/{scope}/+/summary"),))


def _check_username(name: str) -> str:
    if not _USERNAME_RE.match(name):
        raise ValueError(f"account name must match {_USERNAME_RE.pattern}, got {name!r}")
    return name


def generate_password() -> str:
    """256 random bits, URL-safe (no `:` or whitespace to trip a config parser)."""
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- password file
def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """The Mosquitto 2.0 `$7$` (PBKDF2-SHA512) hash of `password`."""
    salt = salt if salt is not None else os.urandom(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a `$7$` hash from a Mosquitto password file."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        raise AccountFileError(f"expected a $7$ (PBKDF2-SHA512) password hash, got {encoded[:12]!r}...")
    try:
        iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError as exc:
        raise AccountFileError(f"malformed $7$ password hash: {exc}") from None
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations), digest)


def read_password_file(path: Path) -> dict[str, str]:
    """username -> hash, in file order; a missing file is an empty one."""
    if not path.exists():
        return {}
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        username, sep, encoded = line.partition(":")
        if not sep or not username:
            raise AccountFileError(f"{path}:{number}: expected `username:hash`, got {line[:40]!r}")
        entries[username] = encoded
    return entries


def set_password(path: Path, username: str, password: str, *, group: str | None = None) -> None:
    entries = read_password_file(path)
    entries[_check_username(username)] = hash_password(password)
    _write_private(path, "".join(f"{user}:{encoded}\n" for user, encoded in entries.items()), group)


def remove_password(path: Path, username: str, *, group: str | None = None) -> bool:
    """Drop `username` from the password file; False when it was not there."""
    entries = read_password_file(path)
    if entries.pop(username, None) is None:
        return False
    _write_private(path, "".join(f"{user}:{encoded}\n" for user, encoded in entries.items()), group)
    return True


# ---------------------------------------------------------------- ACL file
# Mosquitto attaches every `topic` line to the `user` line above it, so a stray line after one
# account's block would silently widen that account. The file therefore holds nothing but
# comments and marked blocks, and anything else is refused rather than carried along.
ACL_HEADER = """\
# lanewatch broker ACL, written by `lanewatch-central provision-*`: do not edit by hand.
# One block per account, replaced whole when the account is provisioned again. Mosquitto
# attaches each `topic` line to the `user` line above it; anything outside a block is refused.
"""
_BEGIN, _END = "# BEGIN ", "# END "


def read_acl_blocks(path: Path) -> dict[str, str]:
    """username -> its block (the `user` and `topic` lines), in file order."""
    if not path.exists():
        return {}
    blocks: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if current is None:
            if line.startswith(_BEGIN):
                current, body = line[len(_BEGIN) :].strip(), []
            elif line.strip() and not line.startswith("#"):
                raise AccountFileError(
                    f"{path}:{number}: line outside an account block: {line!r}; "
                    "wrap hand-written rules in `# BEGIN name` / `# END name`"
                )
        elif line == _END + current:
            if current in blocks:
                raise AccountFileError(f"{path}:{number}: account {current!r} has two blocks")
            blocks[current] = "".join(f"{entry}\n" for entry in body)
            current = None
        elif line.startswith(_BEGIN):
            raise AccountFileError(f"{path}:{number}: block {current!r} is not closed before the next one")
        else:
            body.append(line)
    if current is not None:
        raise AccountFileError(f"{path}: block {current!r} has no `{_END}{current}` line")
    return blocks


def write_acl_blocks(path: Path, blocks: dict[str, str], *, group: str | None = None) -> None:
    text = ACL_HEADER + "".join(f"\n{_BEGIN}{name}\n{block}{_END}{name}\n" for name, block in blocks.items())
    _write_private(path, text, group)


def upsert_acl(path: Path, account: Account, *, group: str | None = None) -> bool:
    """Add or replace the account's block; False (and the file untouched) when it is already as wanted."""
    blocks = read_acl_blocks(path)
    block = account.acl_block()
    if blocks.get(account.username) == block:
        return False
    blocks[account.username] = block
    write_acl_blocks(path, blocks, group=group)
    return True


def remove_acl(path: Path, username: str, *, group: str | None = None) -> bool:
    blocks = read_acl_blocks(path)
    if blocks.pop(username, None) is None:
        return False
    write_acl_blocks(path, blocks, group=group)
    return True


# ---------------------------------------------------------------- files
@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Serialise provisioning runs on one broker directory (two admins, one file)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".provision.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def group_id(group: str | None) -> int | None:
    """The gid of `group` when it exists and we may hand files to it (as root), else None."""
    if group is None or os.geteuid() != 0:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _write_private(path: Path, text: str, group: str | None) -> None:
    """Atomically replace `path` with mode 0640, group-owned by `group` when possible.

    The broker reads these files after dropping to its own user, hence the group; nobody else may.
    """
    write_private(path, text.encode(), mode=0o640, group=group)


def write_private(path: Path, data: bytes, *, mode: int, group: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    gid = group_id(group)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if gid is not None:
            os.fchown(fd, -1, gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
