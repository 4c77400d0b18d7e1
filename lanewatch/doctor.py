"""`doctor`: checks an installation the way its service will use it, one line per check.

    ok    broker          edge.laocai-kimthanh2.gate1@10.20.0.5:8883 accepted (TLS), may read its receipts
    FAIL  camera cam2     no frame within 10 s from rtsp://admin:***@10.20.1.12/stream1
          → check the camera's power, cable and address (ffplay URL), and its stall_timeout_s
    warn  certificates    client gate4.crt expires 2026-12-20 (in 19 days); CA ca.crt valid until 2046-11-26
          → issue a new client certificate: lanewatch-central provision-edge … --rotate

Shared by `lanewatch-edge doctor` and `lanewatch-central doctor`: the report, and the checks both make
(broker account, TLS certificates, clock, free disk). A check that raises is reported as failed, never as
a crash; a warning passes but is named in the summary.
Run it as the service's user (`runuser -u lanewatch -- ...`): files it opens then belong to that user,
and device and file permissions are tested as the service will meet them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cryptography import x509
from pydantic import ByteSize, TypeAdapter, ValidationError

from lanewatch.clock import ClockWatch, read_os_clock
from lanewatch.config import ConfigError, M, load_config
from lanewatch.contract import ClockState
from lanewatch.mqtt import MqttSettings, TlsSettings, make_client

BROKER_TIMEOUT_S = 10.0
MAX_CLOCK_OFFSET_MS = 1000.0  # beyond this a synchronised clock still skews crossing times noticeably
# A border site has no ACME: renewing means a visit or a provisioning run, so warn a month ahead.
CERT_WARN_DAYS = 30


class CheckFailed(Exception):
    """A failed check: the message says what is wrong, `fix` what to do about it."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


class CheckWarning(CheckFailed):
    """A check that passes for now but needs attention soon: the message says what, `fix` what to do."""


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # passed, but needs attention soon

    @property
    def status(self) -> str:
        return "FAIL" if not self.ok else "warn" if self.warning else "ok"


class Report:
    def __init__(self, out: TextIO | None = None):
        self.out = out if out is not None else sys.stdout
        self.results: list[Result] = []

    def check(self, name: str, run: Callable[[], str], fix: str = "") -> bool:
        """Run one check: `run` returns what it found, or raises CheckFailed (any other exception is a
        failure too, reported with `fix`)."""
        try:
            result = Result(name, True, run())
        except CheckWarning as exc:
            result = Result(name, True, str(exc), exc.fix, warning=True)
        except CheckFailed as exc:
            result = Result(name, False, str(exc), exc.fix)
        except Exception as exc:  # noqa: BLE001 - every check must produce its line
            result = Result(name, False, f"{type(exc).__name__}: {exc}", fix)
        self.add(result)
        return result.ok

    def add(self, result: Result) -> None:
        self.results.append(result)
        print(f"{result.status:<5} {result.name:<15} {result.detail}", file=self.out, flush=True)
        if (not result.ok or result.warning) and result.fix:
            print(f"{'':<5} {'':<15} → {result.fix}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(f"{'note':<5} {text}", file=self.out, flush=True)

    def exit_code(self) -> int:
        failed = [r.name for r in self.results if not r.ok]
        warned = [r.name for r in self.results if r.warning]
        summary = f"{len(self.results) - len(failed)} ok, {len(failed)} failed"
        summary += f": {', '.join(failed)}" if failed else ""
        summary += f"; {len(warned)} warning(s): {', '.join(warned)}" if warned else ""
        print(summary, file=self.out, flush=True)
        return 1 if failed else 0


def load_checked(path: str, model: type[M], example: str) -> M:
    """A config for the `config` check: its errors become the check's one-line failure."""
    try:
        return load_config(path, model)
    except ConfigError as exc:
        raise CheckFailed(str(exc).replace("\n", "; "),
                          f"fix the keys named above ({example} documents each)") from None


def note_user(report: Report) -> None:
    if os.geteuid() == 0:
        report.note("running as root: run as the service's user (runuser -u lanewatch -- …) to test its "
                    "permissions and keep the files it opens owned by that user")


def parse_size(text: str) -> int:
    """A size such as 2GiB, 500MB or 1073741824 (argparse type)."""
    try:
        return int(TypeAdapter(ByteSize).validate_python(text))
    except ValidationError:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a size such as 2GiB, 500MB or 1073741824, got {text!r}") from None


# ---------------------------------------------------------------- broker
def check_broker(settings: MqttSettings, username_hint: str, client_id: str, topic: str,
                 timeout_s: float = BROKER_TIMEOUT_S) -> str:
    """Connect with the service's settings (its own TLS and account) under a separate client id, so a
    running service keeps its session, and subscribe to `topic`, which its ACL must let it read."""
    where = f"{settings.username or username_hint}@{settings.host}:{settings.port}"
    transport = "TLS" if settings.tls else "plain, no TLS"
    client = make_client(settings, client_id=client_id)
    done = threading.Event()
    outcome: dict[str, object] = {}

    def on_connect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001 - paho's signature
        outcome["connect"] = reason_code
        if reason_code.is_failure:
            done.set()
        else:
            client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        outcome["subscribe"] = reason_codes[0]
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    try:
        client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    except ssl.SSLError as exc:
        raise CheckFailed(f"{where}: TLS failed: {exc.reason or exc}",
                          "the broker's certificate must be signed by mqtt.tls.ca_file and name mqtt.host "
                          "(lanewatch-central pki); the port must be the TLS listener") from None
    except OSError as exc:
        raise CheckFailed(f"{where}: cannot connect: {exc.strerror or exc}",
                          "is mosquitto running (systemctl status mosquitto) and is the port open in the "
                          "firewall between this machine and the broker?") from None
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise CheckFailed(f"{where}: no answer within {timeout_s:.0f} s",
                              "a plain-text client talking to the TLS port (or the reverse) looks like this; "
                              "check mqtt.port and mqtt.tls")
    finally:
        client.disconnect()
        client.loop_stop()
    code = outcome["connect"]
    if code.is_failure:  # type: ignore[attr-defined]
        raise CheckFailed(f"{where}: refused: {code}",
                          "the account or its password is wrong or missing on the broker: "
                          "lanewatch-central provision-… --rotate, then systemctl reload mosquitto")
    granted = outcome["subscribe"]
    if granted.is_failure:  # type: ignore[attr-defined]
        raise CheckFailed(f"{where}: accepted, but may not read {topic}: {granted}",
                          "the broker's ACL lacks this account's block: run lanewatch-central provision-… again "
                          "and systemctl reload mosquitto")
    return f"{where} accepted ({transport}); may read {topic}"


# ---------------------------------------------------------------- TLS certificates
def _read_certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise CheckFailed(f"{what} {path}: cannot read: {exc.strerror or exc}",
                          "copy it from the provisioning bundle; it must be readable by the service's user") from None
    except ValueError as exc:
        raise CheckFailed(f"{what} {path}: not a PEM certificate: {exc}",
                          "copy it again from the provisioning bundle (a PEM file starting -----BEGIN CERTIFICATE-----)"
                          ) from None
    return certs


def check_certificates(tls: TlsSettings | None, renew_fix: str, now: dt.datetime | None = None,
                       warn_days: int = CERT_WARN_DAYS) -> str:
    """The CA file's certificates and the client certificate (when there is one) are valid now: FAIL when one
    has expired or is not valid yet, warning when one expires within `warn_days`. `renew_fix` says how this
    program's client certificate is renewed."""
    if tls is None:
        return "plain MQTT (no mqtt.tls): no certificates to check"
    now = now or dt.datetime.now(dt.UTC)
    files = [("CA", tls.ca_file, "make a new site CA (lanewatch-central pki) and provision every account again")]
    if tls.cert_file is not None:
        files.append(("client", tls.cert_file, renew_fix))
    found, expired, soon = [], [], []
    for what, path, fix in files:
        for cert in _read_certificates(path, what):
            until = cert.not_valid_after_utc
            label = f"{what} {path.name}"
            if cert.not_valid_before_utc > now:
                expired.append((f"{label} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                                "(is this machine's clock behind?)", fix))
            elif until <= now:
                expired.append((f"{label} expired {until:%Y-%m-%d} ({(now - until).days} days ago)", fix))
            elif until - now <= dt.timedelta(days=warn_days):
                soon.append((f"{label} expires {until:%Y-%m-%d} (in {(until - now).days} days)", fix))
            else:
                found.append(f"{label} valid until {until:%Y-%m-%d}")
    if expired:
        raise CheckFailed("; ".join(text for text, _ in expired + soon) + "; TLS to the broker fails",
                          "; ".join(dict.fromkeys(fix for _, fix in expired + soon)))
    if soon:
        raise CheckWarning("; ".join([text for text, _ in soon] + found), "; ".join(dict.fromkeys(f for _, f in soon)))
    return "; ".join(found)


def check_mqtt(report: Report, settings: MqttSettings, username_hint: str, client_id: str, topic: str, *,
               renew_fix: str) -> None:
    """The service's link to the broker, as two checks: its TLS certificates' dates (a failure there explains
    a broker failure after it), then the account (`check_broker`)."""
    report.check("certificates", lambda: check_certificates(settings.tls, renew_fix))
    report.check("broker", lambda: check_broker(settings, username_hint, client_id, topic))


# ---------------------------------------------------------------- clock
def check_clock(read_os: Callable[[], ClockState] = read_os_clock) -> str:
    state = ClockWatch(read_os=read_os, background=False).state()
    fix = ("enable a time service: apt-get install chrony (pointing at the site's NTP server if there is no "
           "internet), then chronyc tracking shows 'Leap status : Normal'")
    if not state.synced:
        raise CheckFailed(f"not synchronised (read from {state.source}); events are stamped synced=false", fix)
    if state.offset_ms is not None and abs(state.offset_ms) > MAX_CLOCK_OFFSET_MS:
        raise CheckFailed(f"synchronised but {state.offset_ms / 1000:+.3f} s off (read from {state.source})", fix)
    offset = f", offset {state.offset_ms:+.1f} ms" if state.offset_ms is not None else ""
    return f"synchronised (read from {state.source}{offset})"


# ---------------------------------------------------------------- disk
def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(path: Path, min_free: int, what: str) -> str:
    usage = shutil.disk_usage(_existing(path))
    free = f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {path}"
    if usage.free < min_free:
        raise CheckFailed(f"{free}; below the {min_free / 2**30:.1f} GiB needed",
                          f"free space on that file system ({what}), or move it to a larger one")
    return free
