"""Provision broker accounts: an edge, the central, a kiosk.

Each command writes the account into the broker's password and ACL files (idempotently: run it
again and the ACL block is rewritten only if the lanes changed) and a bundle directory of what the
account's machine needs: the site CA, its credential, and for an edge a config skeleton.

A credential is made once: provisioning again keeps the existing password or certificate (it is
already on the gate machine) unless `--rotate` asks for a new one. Passwords are stored only as
hashes; the bundle holds the one plain copy, mode 0600, to be moved to the machine and deleted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from central import broker_accounts as accounts
from central import pki
from lanewatch.contract import check_id

DEFAULT_BROKER_DIR = Path("/etc/lanewatch/broker")
EDGE_CONFIG_DIR = "/etc/lanewatch/edge"
Auth = Literal["password", "certificate"]


@dataclass(frozen=True)
class BrokerFiles:
    directory: Path

    @property
    def passwd(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl(self) -> Path:
        return self.directory / "acl"


def _grant(files: BrokerFiles, account: accounts.Account) -> str:
    changed = accounts.upsert_acl(files.acl, account, group=pki.BROKER_GROUP)
    return f"{'wrote' if changed else 'kept'} the ACL block of {account.username} in {files.acl}"


def _password(files: BrokerFiles, username: str, secret_path: Path, rotate: bool) -> str:
    if username in accounts.read_password_file(files.passwd) and not rotate:
        return f"kept the existing password of {username} (--rotate issues a new one)"
    password = accounts.generate_password()
    accounts.write_private(secret_path, f"{password}\n".encode(), mode=0o600, group=None)
    accounts.set_password(files.passwd, username, password, group=pki.BROKER_GROUP)
    return f"set a new password for {username}: {secret_path} (mode 0600; move it to the machine, then delete it here)"


def _copy_ca(pki_dir: Path, out: Path) -> Path:
    ca = pki.PkiFiles(pki_dir).ca_crt
    if not ca.exists():
        raise pki.PkiError(f"{ca} not found: run `lanewatch-central pki init --site SITE --out {pki_dir}` first")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ca.crt"
    shutil.copyfile(ca, target)
    return target


def edge_config_skeleton(
    site: str, edge_id: str, lanes: list[str], username: str, auth: Auth, broker_host: str, broker_port: int
) -> str:
    """A commented starting point for /etc/lanewatch/edge/EDGE_ID.yaml; cameras and weighbridge are left to fill."""
    lane_lines = "".join(
        f"  - id: {lane}\n    direction: export   # export (VN to CN) or import (CN to VN): check\n" for lane in lanes
    )
    if auth == "password":
        credential = f"  password_file: {EDGE_CONFIG_DIR}/{edge_id}.mqtt-password\n"
        client_cert = ""
    else:
        credential = ""
        client_cert = (
            f"    cert_file: {EDGE_CONFIG_DIR}/{edge_id}.crt\n"
            f"    key_file: {EDGE_CONFIG_DIR}/{edge_id}.key\n"
        )
    return (
        f"# lanewatch edge `{edge_id}` of site `{site}`: skeleton written by `lanewatch-central provision-edge`.\n"
        f"# Add cameras and the weighbridge (see configs/edge.example.yaml), then install as\n"
        f"# {EDGE_CONFIG_DIR}/{edge_id}.yaml (root:lanewatch 0640) and run\n"
        f"#   lanewatch-edge doctor --config {EDGE_CONFIG_DIR}/{edge_id}.yaml\n"
        f"#   systemctl enable --now lanewatch-edge@{edge_id}\n"
        f"site: {site}\n"
        f"edge_id: {edge_id}\n"
        f"lanes:\n{lane_lines}"
        f"mqtt:\n"
        f"  host: {broker_host}\n"
        f"  port: {broker_port}\n"
        f"  username: {username}\n"
        f"{credential}"
        f"  tls:\n"
        f"    ca_file: {EDGE_CONFIG_DIR}/ca.crt\n"
        f"{client_cert}"
    )


def provision_edge(
    site: str,
    edge_id: str,
    lanes: list[str],
    *,
    pki_dir: Path,
    broker_dir: Path,
    out: Path,
    auth: Auth = "password",
    broker_host: str | None = None,
    broker_port: int | None = None,
    rotate: bool = False,
) -> list[str]:
    account = accounts.edge_account(site, edge_id, lanes)
    files = BrokerFiles(broker_dir)
    port = broker_port or (8883 if auth == "password" else 8884)
    broker_host = broker_host or pki.server_hosts(pki_dir)[0]  # before anything is written
    done: list[str] = []
    with accounts.locked(broker_dir):
        done.append(f"copied the site CA to {_copy_ca(pki_dir, out)}")
        if auth == "password":
            done.append(_password(files, account.username, out / f"{edge_id}.mqtt-password", rotate))
        else:
            done.append(_certificate(pki_dir, account.username, out, edge_id, rotate))
            # One credential per edge: a certificate edge keeps no password that could be used instead.
            if accounts.remove_password(files.passwd, account.username, group=pki.BROKER_GROUP):
                done.append(f"removed the password of {account.username}: it authenticates by certificate now")
        done.append(_grant(files, account))
    skeleton = out / f"{edge_id}.yaml"
    skeleton.write_text(edge_config_skeleton(site, edge_id, lanes, account.username, auth, broker_host, port))
    done.append(f"wrote the config skeleton {skeleton}")
    return done


def _certificate(pki_dir: Path, username: str, out: Path, edge_id: str, rotate: bool) -> str:
    crt, key_path = out / f"{edge_id}.crt", out / f"{edge_id}.key"
    if crt.exists() and key_path.exists() and not rotate:
        return f"kept the client certificate {crt} (--rotate issues a new one)"
    ca_key, ca_cert = pki.load_ca(pki_dir)
    key, cert = pki.issue(ca_key, ca_cert, username)
    pki.write_key(key_path, key, group=None)
    pki.write_cert(crt, cert, group=None)
    return f"issued the client certificate {crt} (CN={username}) and its key {key_path} (mode 0600)"


def provision_reader(
    account: accounts.Account, *, pki_dir: Path, broker_dir: Path, out: Path, rotate: bool = False
) -> list[str]:
    """The central or a kiosk: a password account plus its ACL block."""
    files = BrokerFiles(broker_dir)
    with accounts.locked(broker_dir):
        return [
            f"copied the site CA to {_copy_ca(pki_dir, out)}",
            _password(files, account.username, out / f"{account.username}.mqtt-password", rotate),
            _grant(files, account),
        ]


# ---------------------------------------------------------------- command lines
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-dir", type=Path, default=pki.DEFAULT_PKI_DIR, help=f"site CA (default {pki.DEFAULT_PKI_DIR})"
    )
    parser.add_argument(
        "--broker-dir", type=Path, default=DEFAULT_BROKER_DIR,
        help=f"the broker's passwd and acl files (default {DEFAULT_BROKER_DIR})",
    )
    parser.add_argument("--rotate", action="store_true", help="replace an existing password or certificate")


def _lanes(text: str) -> list[str]:
    lanes = [part.strip() for part in text.split(",") if part.strip()]
    try:
        for lane in lanes:
            check_id("lane", lane)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return lanes


def _finish(work: Callable[[], list[str]]) -> int:
    """Run the provisioning, print what it did; errors become one line and exit status 1."""
    try:
        done = work()
    except (ValueError, OSError, accounts.AccountFileError, pki.PkiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    print("then: systemctl reload mosquitto   (re-reads passwd and acl)")
    return 0


def _parser(command: str, description: str, example: str) -> argparse.ArgumentParser:
    """A provisioning command's parser with the options every one of them takes."""
    parser = argparse.ArgumentParser(prog=f"lanewatch-central {command}", description=description,
                                     epilog=f"example: lanewatch-central {command} {example}")
    _common(parser)
    return parser


def main_edge(argv: list[str] | None = None) -> int:
    """`lanewatch-central provision-edge SITE EDGE_ID --lanes L1,L2 [...]`."""
    parser = _parser("provision-edge", "Create or update an edge's broker account, ACL and config skeleton.",
                     "laocai-kimthanh2 gate1 --lanes x1,x2 --broker-host 10.20.0.5")
    parser.add_argument("site", help="site id, e.g. laocai-kimthanh2")
    parser.add_argument("edge_id", help="edge id, e.g. gate1 (also the systemd instance: lanewatch-edge@gate1)")
    parser.add_argument("--lanes", required=True, type=_lanes, help="the lanes this edge serves, comma-separated")
    parser.add_argument("--auth", choices=("password", "certificate"), default="password")
    parser.add_argument("--out", type=Path, help="bundle directory for the gate machine (default ./edge-EDGE_ID)")
    parser.add_argument(
        "--broker-host", help="name or address edges use for the broker (default: the first in its certificate)"
    )
    parser.add_argument("--broker-port", type=int, help="default 8883 (password) or 8884 (certificate)")
    args = parser.parse_args(argv)
    return _finish(
        lambda: provision_edge(
            args.site, args.edge_id, args.lanes, pki_dir=args.ca_dir, broker_dir=args.broker_dir,
            out=args.out or Path(f"edge-{args.edge_id}"), auth=args.auth, broker_host=args.broker_host,
            broker_port=args.broker_port, rotate=args.rotate,
        )
    )


def main_central(argv: list[str] | None = None) -> int:
    """`lanewatch-central provision-central [NAME] [...]`."""
    parser = _parser("provision-central",
                     "Create the central service's broker account (reads all events, writes summaries).",
                     "--out /etc/lanewatch")
    parser.add_argument("name", nargs="?", default="central", help="account name (default central)")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write NAME.mqtt-password and ca.crt")
    args = parser.parse_args(argv)
    return _reader(accounts.central_account(args.name), args, args.out)


def main_kiosk(argv: list[str] | None = None) -> int:
    """`lanewatch-central provision-kiosk NAME [--site SITE] [...]`."""
    parser = _parser("provision-kiosk",
                     "Create a read-only account for lane summaries (a board screen, another agency).",
                     "customs-lobby --site laocai-kimthanh2")
    parser.add_argument("name", help="kiosk name; the account is kiosk.NAME")
    parser.add_argument("--site", help="only this site's summaries (default: every site)")
    parser.add_argument("--out", type=Path, help="bundle directory (default ./kiosk-NAME)")
    args = parser.parse_args(argv)
    return _reader(accounts.kiosk_account(args.name, args.site), args, args.out or Path(f"kiosk-{args.name}"))


def _reader(account: accounts.Account, args: argparse.Namespace, out: Path) -> int:
    """The central and kiosk commands: a password account for a reader, from the common options."""
    return _finish(lambda: provision_reader(account, pki_dir=args.ca_dir, broker_dir=args.broker_dir, out=out,
                                            rotate=args.rotate))
