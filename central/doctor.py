"""`lanewatch-central doctor --config FILE`: is the central server ready to run unattended?

Checks: the config, the history database (opens, passes SQLite's quick check, schema not newer than
this release; migrations still to run are reported, they run in place at the next start), the
accounts database beside it, the broker account (may read every event), the clock, free disk for
the database, and the web settings (the board's address can be served, the kiosk token is set).
Before the broker: the dates of the TLS CA (and client certificate, if any) it connects with.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sqlite3
from pathlib import Path

from central.config import CentralConfig
from lanewatch import contract
from lanewatch.doctor import (
    CheckFailed,
    Report,
    check_clock,
    check_disk,
    check_mqtt,
    load_checked,
    note_user,
    parse_size,
)

DEFAULT_MIN_FREE = 2 << 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="central config file (YAML)")
    parser.add_argument("--min-free-disk", type=parse_size, default=DEFAULT_MIN_FREE, metavar="SIZE",
                        help="free space needed beside the history database (default 2GiB)")


def run(args: argparse.Namespace) -> int:
    report = Report()
    note_user(report)
    holder: list[CentralConfig] = []

    def config() -> str:
        holder.append(load_checked(args.config, CentralConfig, "configs/central.example.yaml"))
        lanes = sum(len(site.lanes) for site in holder[0].sites)
        return f"{args.config}: {len(holder[0].sites)} site(s), {lanes} lane(s)"

    if not report.check("config", config):
        return report.exit_code()
    cfg = holder[0]
    report.check("database", lambda: check_database(cfg.database))
    report.check("accounts", lambda: check_accounts(cfg))
    check_mqtt(report, cfg.mqtt, "central", f"lanewatch-doctor-central-{os.getpid()}", contract.EVENT_SUBSCRIPTION,
               renew_fix="issue a new one from the site CA for this account and restart the central")
    report.check("clock", check_clock)
    report.check("disk", lambda: check_disk(cfg.database, args.min_free_disk, "the history database lives there"))
    report.check("web", lambda: check_web(cfg))
    return report.exit_code()


def _open_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def check_database(path: Path) -> str:
    from central.store import MIGRATIONS

    if not path.exists():
        parent = next(p for p in (path, *path.parents) if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CheckFailed(f"{path} does not exist and {parent} is not writable by this user",
                              "create the directory for the service's user (systemd's StateDirectory= does: "
                              "/var/lib/lanewatch), or point database: there")
        return f"{path} does not exist yet (created with the current schema at first start)"
    try:
        conn = _open_read_only(path)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CheckFailed(f"{path}: cannot read: {exc}", "check the file's owner (the service's user) and that "
                          "it is a lanewatch history database") from None
    if integrity != "ok":
        raise CheckFailed(f"{path}: damaged ({integrity})", "restore it from the last backup (docs/install.md, "
                          "upgrades and backups)")
    latest = len(MIGRATIONS)
    if version > latest:
        raise CheckFailed(f"{path}: schema version {version} is newer than this release's {latest}",
                          "this database was written by a newer lanewatch: install that release again (or restore "
                          "the backup taken before the upgrade)")
    pending = latest - version
    return f"{path}: schema version {version}" + (
        f", {pending} migration(s) will run in place at the next start" if pending else ", current")


def check_accounts(cfg: CentralConfig) -> str:
    path = cfg.web.accounts_path(cfg.database)
    if not path.exists():
        return f"{path} does not exist yet: add an administrator with lanewatch-central users add"
    try:
        conn = _open_read_only(path)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CheckFailed(f"{path}: cannot read: {exc}", "check the file's owner (the service's user)") from None
    return f"{path}: {len(tables)} table(s)"


def check_web(cfg: CentralConfig) -> str:
    host, port = cfg.http.host, cfg.http.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"http://{host}:{port}/"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
            listening = "free to serve"
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise CheckFailed(f"{where}: cannot listen: {exc.strerror}",
                                  "http.host must be an address of this machine (127.0.0.1 behind a proxy)") from None
            listening = "in use (by the running service, or another program: ss -ltnp)"
    kiosk = "kiosk token set" if cfg.web.kiosk_token else "no kiosk token (wall screens cannot sign in)"
    cookies = "cookies always Secure" if cfg.web.secure_cookies == "always" else "cookies Secure over TLS"
    return f"{where} {listening}; {kiosk}; {cookies}"
