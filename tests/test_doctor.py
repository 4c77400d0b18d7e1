"""`doctor` finds what it claims to find, against real parts: a TLS Mosquitto with accounts and ACLs made
by `central.pki`/`central.provision`, real certificates (the site's, and client certificates signed by its CA
with chosen dates), real video files and model files (the detector's, the OCR models inside
rapidocr-onnxruntime), real SQLite databases.

The clock's sync state is simulated the only way it can be without changing the machine's clock: a
`chronyc` on PATH printing what chrony prints when synchronised or not (the doctor reads chrony first).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from broker import Broker, free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from central import pki, provision
from central.store import MIGRATIONS
from edge.plates.ocr import DET_MODEL, REC_MODEL, default_model_dir
from lanewatch.doctor import CheckFailed

REPO = Path(__file__).resolve().parents[1]
SITE = "laocai-kimthanh2"
CHRONY = {
    True: "Reference ID    : C0A80001 (ntp.site)\nSystem time     : 0.000012345 seconds fast of NTP time\n"
          "Leap status     : Normal\n",
    False: "Reference ID    : 00000000 ()\nSystem time     : 0.000000000 seconds fast of NTP time\n"
           "Leap status     : Not synchronised\n",
}


class Site:
    def __init__(self, root: Path, broker: Broker, passwords: dict[str, str]):
        self.root, self.broker, self.passwords = root, broker, passwords
        self.ca = root / "pki" / "ca.crt"

    def mqtt(self, username: str, password: str | None = None, tls: bool = True) -> dict:
        return {"host": "127.0.0.1", "port": self.broker.port, "username": username,
                "password": password if password is not None else self.passwords[username],
                **({"tls": {"ca_file": str(self.ca)}} if tls else {})}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("doctor-site")
    pki.init_site(root / "pki", SITE, ["localhost", "127.0.0.1"])
    dirs = {"pki_dir": root / "pki", "broker_dir": root / "broker"}
    provision.provision_edge(SITE, "gate1", ["x1"], out=root / "edge-gate1", **dirs)
    provision.provision_reader(provision.accounts.central_account(), out=root / "central", **dirs)
    passwords = {f"edge.{SITE}.gate1": (root / "edge-gate1" / "gate1.mqtt-password").read_text().strip(),
                 "central": (root / "central" / "central.mqtt-password").read_text().strip()}
    files = pki.PkiFiles(root / "pki")
    broker = Broker(root / "mosquitto", tls=(files.ca_crt, files.server_crt, files.server_key),
                    password_file=root / "broker" / "passwd", extra_config=f"acl_file {root / 'broker' / 'acl'}\n")
    broker.start()
    yield Site(root, broker, passwords)
    broker.stop()


def fake_chronyc(directory: Path, synced: bool) -> dict[str, str]:
    directory.mkdir(exist_ok=True)
    script = directory / "chronyc"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{CHRONY[synced]}EOF\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def doctor(tool: str, config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", f"{tool}.cli", "doctor", "--config", str(config), *args],
                            capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    print(result.stdout)  # shown when a test fails
    return result


def lines(output: str) -> dict[str, str]:
    """Check name -> its line (status and detail), plus the fix on the following line."""
    found: dict[str, str] = {}
    last = None
    for line in output.splitlines():
        if line.startswith(("ok ", "warn ", "FAIL ")):
            status, rest = line.split(None, 1)
            name = rest[:15].strip()
            found[name] = f"{status} {rest[15:].strip()}"
            last = name
        elif line.strip().startswith("→") and last:
            found[last] += " || " + line.strip()
    return found


def write_video(path: Path, frames: int = 5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(frames):
        writer.write(np.full((120, 160, 3), 40 * i, np.uint8))
    writer.release()
    return path


def stuck_outbox(data_dir: Path) -> None:
    """An outbox holding one event that was never delivered, a second old."""
    from edge.outbox import Outbox
    from lanewatch.contract import ClockState, EnterEvent
    from lanewatch.ids import uuid7

    outbox = Outbox(data_dir / "outbox.sqlite")
    outbox.submit(lambda seq: EnterEvent(id=uuid7(), site=SITE, lane="x1", edge="gate1", camera="cam1", seq=seq,
                                         ts=datetime.now(UTC), mono_ms=1, clock=ClockState(synced=True), track_id=1))
    assert outbox.flush()
    outbox.close()
    time.sleep(1.0)


def damaged_ocr_models(directory: Path) -> Path:
    """The OCR models with the recogniser cut short, as a full disk or an interrupted copy leaves it."""
    directory.mkdir()
    shutil.copy(default_model_dir() / DET_MODEL, directory)
    whole = (default_model_dir() / REC_MODEL).read_bytes()
    (directory / REC_MODEL).write_bytes(whole[: len(whole) // 2])
    return directory


def edge_config(tmp_path: Path, site: Site, *, mqtt: dict, cameras: list[dict], detector: dict | None = None,
                plates: dict | None = None) -> Path:
    config = {"site": SITE, "edge_id": "gate1", "mqtt": mqtt, "data_dir": str(tmp_path / "data"),
              "detector": detector or {"type": "motion"}, "plates": plates or {"enabled": False},
              "lanes": [{"id": "x1", "direction": "export", "cameras": cameras}]}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_edge_doctor_passes_a_sound_installation(tmp_path: Path, site: Site) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(REPO / "models" / "lanewatch-truck-v1.onnx", models)
    shutil.copy(REPO / "models" / "manifest.json", models)
    video = write_video(tmp_path / "cam1.avi")
    config = edge_config(tmp_path, site, mqtt=site.mqtt(f"edge.{SITE}.gate1"),
                         cameras=[{"id": "cam1", "source": {"type": "file", "path": str(video)}}],
                         detector={"type": "yolo-onnx", "model": str(models / "lanewatch-truck-v1.onnx")},
                         plates={"enabled": True})
    result = doctor("edge", config, fake_chronyc(tmp_path / "bin", synced=True), "--min-free-disk", "1MiB")
    found = lines(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert found["model"].startswith("ok lanewatch-truck-v1.onnx: sha256 matches manifest.json")
    assert found["plates"] == (f"ok {DET_MODEL} and {REC_MODEL} in {default_model_dir()} (rapidocr-onnxruntime) "
                               "load in onnxruntime")
    ca_until = x509.load_pem_x509_certificate(site.ca.read_bytes()).not_valid_after_utc
    assert found["certificates"] == f"ok CA ca.crt valid until {ca_until:%Y-%m-%d}"
    assert found["camera cam1"].startswith("ok 160x120 frame from")
    assert found["broker"].startswith(f"ok edge.{SITE}.gate1@127.0.0.1:{site.broker.port} accepted (TLS)")
    assert found["clock"] == "ok synchronised (read from chrony, offset +0.0 ms)"
    assert found["outbox"].startswith("ok no outbox yet")
    assert set(found) == {"config", "model", "plates", "camera cam1", "certificates", "broker", "clock", "disk",
                          "outbox"}
    assert result.stdout.splitlines()[-1] == "9 ok, 0 failed"


def test_edge_doctor_reports_each_failure(tmp_path: Path, site: Site) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(REPO / "models" / "manifest.json", models)
    damaged = models / "lanewatch-truck-v1.onnx"
    damaged.write_bytes((REPO / "models" / "lanewatch-truck-v1.onnx").read_bytes() + b"\0")
    dead_port = free_port()
    config = edge_config(
        tmp_path, site, mqtt=site.mqtt(f"edge.{SITE}.gate1", password="not-the-password"),
        cameras=[{"id": "cam1", "source": {"type": "file", "path": str(write_video(tmp_path / "cam1.avi"))}},
                 {"id": "cam2", "source": {"type": "file", "path": str(tmp_path / "unplugged.avi")}},
                 {"id": "cam3", "source": {"type": "network", "url": f"http://127.0.0.1:{dead_port}/video"}}],
        detector={"type": "yolo-onnx", "model": str(damaged)},
        plates={"reader": {"model_dir": str(damaged_ocr_models(tmp_path / "ocr"))}})
    stuck_outbox(tmp_path / "data")
    result = doctor("edge", config, fake_chronyc(tmp_path / "bin", synced=False),
                    "--min-free-disk", "1PiB", "--camera-timeout", "5", "--max-backlog-age", "0.5")
    found = lines(result.stdout)
    assert result.returncode == 1, result.stdout + result.stderr
    assert found["model"].startswith("FAIL") and "expected dfa80565" in found["model"]
    assert "manifest.json" in found["model"]
    assert found["plates"].startswith(f"FAIL {tmp_path / 'ocr'}: cannot load: ") and "rapidocr" in found["plates"]
    assert found["camera cam1"].startswith("ok ")
    assert found["camera cam2"].startswith(f"FAIL cannot open {tmp_path / 'unplugged.avi'}")
    assert found["camera cam3"].startswith("FAIL ") and f"127.0.0.1:{dead_port}" in found["camera cam3"]
    assert found["broker"].startswith("FAIL ") and "refused" in found["broker"] and "--rotate" in found["broker"]
    assert found["clock"].startswith("FAIL not synchronised (read from chrony)") and "chrony" in found["clock"]
    assert found["disk"].startswith("FAIL ") and "below the 1048576.0 GiB needed" in found["disk"]
    assert found["outbox"].startswith("FAIL 1 undelivered event(s), oldest ") and "not keeping up" in found["outbox"]
    assert "Traceback" not in result.stdout + result.stderr


def test_edge_doctor_plain_text_to_the_tls_port_fails(tmp_path: Path, site: Site) -> None:
    video = write_video(tmp_path / "c.avi")
    config = edge_config(tmp_path, site, mqtt=site.mqtt(f"edge.{SITE}.gate1", tls=False),
                         cameras=[{"id": "cam1", "source": {"type": "file", "path": str(video)}}])
    result = doctor("edge", config, fake_chronyc(tmp_path / "bin", synced=True), "--min-free-disk", "1MiB")
    found = lines(result.stdout)
    assert result.returncode == 1
    assert found["broker"].startswith("FAIL ") and "no answer within" in found["broker"]
    assert found["camera cam1"].startswith("ok ") and found["clock"].startswith("ok ")


def test_edge_doctor_stops_at_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("site: laocai\nedge_id: gate1\nlanes: []\n")
    result = doctor("edge", path, {**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1
    assert result.stdout.splitlines()[-2].startswith("FAIL  config") or "FAIL  config" in result.stdout
    assert "lanes: List should have at least 1 item" in result.stdout and "1 failed: config" in result.stdout


def central_config(tmp_path: Path, site: Site, password: str | None = None) -> Path:
    config = {"mqtt": site.mqtt("central", password=password), "database": str(tmp_path / "db" / "lanewatch.sqlite"),
              "http": {"host": "127.0.0.1", "port": free_port()},
              "sites": [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": "x1", "direction": "export"}]}]}
    path = tmp_path / "central.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def test_central_doctor_passes_then_reports_each_failure(tmp_path: Path, site: Site) -> None:
    env = fake_chronyc(tmp_path / "bin", synced=True)
    good = doctor("central", central_config(tmp_path, site), env, "--min-free-disk", "1MiB")
    found = lines(good.stdout)
    assert good.returncode == 0, good.stdout + good.stderr
    assert found["database"].endswith("does not exist yet (created with the current schema at first start)")
    assert found["broker"] == f"ok central@127.0.0.1:{site.broker.port} accepted (TLS); may read lanewatch/v1/+/+/event"
    ca_until = x509.load_pem_x509_certificate(site.ca.read_bytes()).not_valid_after_utc
    assert found["certificates"] == f"ok CA ca.crt valid until {ca_until:%Y-%m-%d}"
    assert found["web"].startswith("ok http://127.0.0.1:") and "free to serve" in found["web"]

    # A database from a newer release, a wrong password, an unsynchronised clock, too little disk.
    db = tmp_path / "db" / "lanewatch.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    bad = doctor("central", central_config(tmp_path, site, password="wrong"), fake_chronyc(tmp_path / "bin2", False),
                 "--min-free-disk", "1PiB")
    found = lines(bad.stdout)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert found["database"].startswith("FAIL")
    assert f"schema version {len(MIGRATIONS) + 1} is newer" in found["database"]
    assert found["broker"].startswith("FAIL ") and "refused" in found["broker"]
    assert found["clock"].startswith("FAIL not synchronised")
    assert found["disk"].startswith("FAIL ")
    assert found["web"].startswith("ok ")


def test_central_doctor_sees_pending_migrations_as_ok(tmp_path: Path, site: Site) -> None:
    db = tmp_path / "db" / "lanewatch.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA user_version = 1")
    result = doctor("central", central_config(tmp_path, site), fake_chronyc(tmp_path / "bin", True),
                    "--min-free-disk", "1MiB")
    found = lines(result.stdout)
    assert found["database"] == (f"ok {db}: schema version 1, {len(MIGRATIONS) - 1} migration(s) will run in place "
                                 "at the next start")


def test_weighbridge_check_reads_a_real_indicator_and_names_a_silent_one() -> None:
    """The doctor's weighbridge check on the edge's reader and a pseudo-terminal (wired into the CLI by
    `lanes[].weighbridge`, so it is called directly here)."""
    import random

    from edge.doctor import check_weighbridge
    from edge.weighbridge.config import parse_config
    from sim.weighbridge import PtyIndicator, encode_timeline, truck_timeline

    rows, _ = truck_timeline([24_560.0], random.Random(7))
    timeline = encode_timeline(rows, "yaohua-tf0", random.Random(7), noise_rate=0.0)
    with PtyIndicator() as indicator:
        config = parse_config({"protocol": "yaohua-tf0", "connection": {"device": indicator.path, "baud": 9600}})
        with pytest.raises(CheckFailed, match=r"yaohua-tf0 on .*: no reading within 1 s \(state") as silent:
            check_weighbridge(config, "x1", timeout_s=1.0)
        assert "dialout" in silent.value.fix
        indicator.play(timeline * 20, speed=4.0)  # keeps talking while the check opens the port
        found = check_weighbridge(config, "x1", timeout_s=10.0)
    assert re.fullmatch(r"yaohua-tf0 on .+: \d+ kg", found), found
    assert int(found.rsplit(" ", 2)[1]) in {round(row.weight_kg) for row in rows}


# ---------------------------------------------------------------- TLS certificates
def test_certificate_dates_of_a_provisioned_certificate_edge(tmp_path: Path) -> None:
    """The site's CA and an edge's client certificate as `pki` and `provision` make them, checked as the
    years pass (the check's `now` moves; the files are the real ones)."""
    from lanewatch.doctor import CheckWarning, check_certificates
    from lanewatch.mqtt import TlsSettings

    pki.init_site(tmp_path / "pki", SITE, ["127.0.0.1"])
    provision.provision_edge(SITE, "gate4", ["x4"], pki_dir=tmp_path / "pki", broker_dir=tmp_path / "broker",
                             out=tmp_path / "edge-gate4", auth="certificate")
    tls = TlsSettings(ca_file=tmp_path / "edge-gate4" / "ca.crt", cert_file=tmp_path / "edge-gate4" / "gate4.crt",
                      key_file=tmp_path / "edge-gate4" / "gate4.key")
    ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes()).not_valid_after_utc
    client = x509.load_pem_x509_certificate(tls.cert_file.read_bytes()).not_valid_after_utc
    assert client < ca  # leaves expire first: a renewal comes before a new CA
    renew = "renew it so"

    assert check_certificates(tls, renew) == (f"CA ca.crt valid until {ca:%Y-%m-%d}; "
                                              f"client gate4.crt valid until {client:%Y-%m-%d}")
    with pytest.raises(CheckWarning) as soon:
        check_certificates(tls, renew, now=client - timedelta(days=20, hours=1))
    assert str(soon.value) == (f"client gate4.crt expires {client:%Y-%m-%d} (in 20 days); "
                               f"CA ca.crt valid until {ca:%Y-%m-%d}")
    assert soon.value.fix == renew
    assert check_certificates(tls, renew, now=client - timedelta(days=31)).startswith("CA ca.crt valid until")
    with pytest.raises(CheckFailed) as expired:
        check_certificates(tls, renew, now=client + timedelta(days=2, hours=1))
    assert not isinstance(expired.value, CheckWarning)
    assert str(expired.value) == f"client gate4.crt expired {client:%Y-%m-%d} (2 days ago); TLS to the broker fails"
    with pytest.raises(CheckFailed, match=r"^CA ca\.crt expired .*; client gate4\.crt expired ") as both:
        check_certificates(tls, renew, now=ca + timedelta(days=1))
    assert "lanewatch-central pki" in both.value.fix and renew in both.value.fix
    with pytest.raises(CheckFailed, match=r"client gate4\.crt is not valid before .* clock behind"):
        check_certificates(tls, renew, now=client - timedelta(days=pki.LEAF_DAYS + 1))
    assert check_certificates(None, renew).startswith("plain MQTT")



def test_certificate_files_that_cannot_be_read(tmp_path: Path) -> None:
    from lanewatch.doctor import check_certificates
    from lanewatch.mqtt import TlsSettings

    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(CheckFailed, match=r"^CA .*ca\.crt: not a PEM certificate"):
        check_certificates(TlsSettings(ca_file=tmp_path / "ca.crt"), "")
    with pytest.raises(CheckFailed, match=r"^CA .*missing\.crt: cannot read: No such file"):
        check_certificates(TlsSettings(ca_file=tmp_path / "missing.crt"), "")


def client_certificate(ca_dir: Path, out: Path, name: str, not_after: datetime) -> tuple[Path, Path]:
    """A client certificate signed by the site CA, valid from a year ago until `not_after`."""
    ca_key, ca_cert = pki.load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - timedelta(days=365)).not_valid_after(not_after)
            .sign(ca_key, hashes.SHA256()))
    out.mkdir(exist_ok=True)
    (out / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return out / f"{name}.crt", out / f"{name}.key"


def test_edge_doctor_warns_of_a_client_certificate_about_to_expire_and_fails_an_expired_one(
        tmp_path: Path, site: Site) -> None:
    now = datetime.now(UTC)
    video = write_video(tmp_path / "cam1.avi")
    cameras = [{"id": "cam1", "source": {"type": "file", "path": str(video)}}]
    env = fake_chronyc(tmp_path / "bin", synced=True)
    for name, until, code, status in (("soon", now + timedelta(days=5, hours=1), 0, "warn"),
                                      ("old", now - timedelta(days=3, hours=1), 1, "FAIL")):
        cert, key = client_certificate(site.root / "pki", tmp_path / "certs", name, until)
        mqtt = site.mqtt(f"edge.{SITE}.gate1")
        mqtt["tls"] |= {"cert_file": str(cert), "key_file": str(key)}
        result = doctor("edge", edge_config(tmp_path, site, mqtt=mqtt, cameras=cameras), env, "--min-free-disk", "1MiB")
        found = lines(result.stdout)
        assert result.returncode == code, result.stdout + result.stderr
        assert found["certificates"].startswith(f"{status} client {name}.crt "), found["certificates"]
        assert f"provision-edge {SITE} gate1 --lanes" in found["certificates"] and "--rotate" in found["certificates"]
        if status == "warn":
            assert f"expires {until:%Y-%m-%d} (in 5 days)" in found["certificates"]
            assert result.stdout.splitlines()[-1].endswith("0 failed; 1 warning(s): certificates")
        else:
            assert f"expired {until:%Y-%m-%d} (3 days ago)" in found["certificates"]
            assert "1 failed: certificates" in result.stdout.splitlines()[-1]
