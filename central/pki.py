"""A site's own certificate authority: TLS for the broker where there is no internet and no public CA.

`lanewatch-central pki init --site SITE --out DIR` makes, in DIR:

- `ca.key` (0600, root only) and `ca.crt`: the site CA. Edges trust `ca.crt`; the key signs the
  broker's certificate and edges' client certificates. Keep a copy of it off the machine.
- `server.key` (0640, group mosquitto) and `server.crt`: the broker's certificate, with every
  name and address the edges use to reach it (`--host`, repeated).

Run again, it keeps the CA and the server certificate (edges already trust them); `--renew-server`
issues a new server certificate from the same CA, e.g. when the broker gets a new address.

Keys are ECDSA P-256: every TLS stack on the edges speaks it, and signing is cheap on small
machines. Built on `cryptography` rather than the openssl command: extensions are set
explicitly in code instead of through generated openssl config files, and the result does not
depend on which openssl version the distribution ships.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central.broker_accounts import write_private
from lanewatch.contract import check_id

CA_DAYS = 20 * 365
# No ACME on a border site: a certificate that expires takes every edge offline, so leaf
# certificates last long and `doctor` warns well before the end.
LEAF_DAYS = 10 * 365
DEFAULT_PKI_DIR = Path("/etc/lanewatch/pki")
BROKER_GROUP = "mosquitto"


class PkiError(Exception):
    """A missing, unreadable or inconsistent CA or certificate file."""


@dataclass(frozen=True)
class PkiFiles:
    directory: Path

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def ca_crt(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def server_crt(self) -> Path:
        return self.directory / "server.crt"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, site: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lanewatch"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    # Back-date a little: a gate computer whose clock runs behind must still accept a fresh certificate.
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def make_ca(site: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name(f"lanewatch {site} CA", site)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    server_hosts: list[str] | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf certificate: for a server when `server_hosts` is given, else for a client named `common_name`."""
    key = _new_key()
    site = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts is not None else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, str(site)))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(min(_now() + dt.timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=True, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server_hosts is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(server_hosts)), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):  # keep order, drop repeats
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def default_hosts() -> list[str]:
    return [socket.gethostname(), "localhost", "127.0.0.1", "::1"]


def load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    files = PkiFiles(directory)
    for path in (files.ca_key, files.ca_crt):
        if not path.exists():
            raise PkiError(f"{path} not found: run `lanewatch-central pki init --site SITE --out {directory}` first")
    try:
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(files.ca_crt.read_bytes())
    except (ValueError, TypeError, OSError) as exc:
        raise PkiError(f"cannot load the CA from {directory}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise PkiError(f"{files.ca_key} is not the key of {files.ca_crt}")
    return key, cert


def server_hosts(directory: Path) -> list[str]:
    """The names and addresses in the broker's certificate, the preferred one (first `--host`) first."""
    path = PkiFiles(directory).server_crt
    if not path.exists():
        raise PkiError(f"{path} not found: run `lanewatch-central pki init --site SITE --out {directory}` first")
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise PkiError(f"cannot read the broker certificate {path}: {exc}") from None
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in names if isinstance(name, (x509.DNSName, x509.IPAddress))]


def write_key(path: Path, key: ec.EllipticCurvePrivateKey, *, group: str | None) -> None:
    write_private(path, _key_pem(key), mode=0o640 if group else 0o600, group=group)


def write_cert(path: Path, cert: x509.Certificate, *, group: str | None) -> None:
    write_private(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644, group=group)


def init_site(directory: Path, site: str, hosts: list[str], *, renew_server: bool = False) -> list[str]:
    """Create the CA (when missing) and the server certificate (when missing or renewing); returns what was done."""
    check_id("site", site)
    files = PkiFiles(directory)
    done: list[str] = []
    if files.ca_key.exists() or files.ca_crt.exists():
        ca_key, ca_cert = load_ca(directory)
        found = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
        if found != site:
            raise PkiError(f"{files.ca_crt} belongs to site {found!r}, not {site!r}")
        done.append(f"kept the CA {files.ca_crt}")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = make_ca(site)
        write_key(files.ca_key, ca_key, group=None)  # root only: the broker never needs it
        write_cert(files.ca_crt, ca_cert, group=BROKER_GROUP)
        done.append(f"created the CA {files.ca_crt} (key {files.ca_key}: keep a copy offline)")
    if files.server_crt.exists() and not renew_server:
        done.append(f"kept the server certificate {files.server_crt} (--renew-server replaces it)")
        return done
    key, cert = issue(ca_key, ca_cert, f"lanewatch {site} broker", server_hosts=hosts)
    write_key(files.server_key, key, group=BROKER_GROUP)
    write_cert(files.server_crt, cert, group=BROKER_GROUP)
    done.append(f"issued {files.server_crt} for {', '.join(dict.fromkeys(hosts))}")
    return done


def main(argv: list[str] | None = None) -> int:
    """`lanewatch-central pki init --site SITE [--out DIR] [--host NAME_OR_IP ...] [--renew-server]`."""
    parser = argparse.ArgumentParser(
        prog="lanewatch-central pki",
        description="Local certificate authority for a site's broker.",
        epilog="example: lanewatch-central pki init --site laocai-kimthanh2 --host 10.20.0.5 --host central.local",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create the site CA and the broker's server certificate")
    init.add_argument("--site", required=True, help="site id, e.g. laocai-kimthanh2")
    init.add_argument("--out", type=Path, default=DEFAULT_PKI_DIR, help=f"directory (default {DEFAULT_PKI_DIR})")
    init.add_argument(
        "--host", action="append", default=[],
        help="a DNS name or IP address edges use to reach the broker (repeat); "
        "the machine's hostname, localhost, 127.0.0.1 and ::1 are always included",
    )
    init.add_argument("--renew-server", action="store_true", help="issue a new server certificate from the existing CA")
    args = parser.parse_args(argv)
    try:
        for line in init_site(args.out, args.site, args.host + default_hosts(), renew_server=args.renew_server):
            print(line)
    except (PkiError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
