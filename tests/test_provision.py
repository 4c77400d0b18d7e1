"""Site PKI and account provisioning: files, formats, idempotency and errors (no broker needed here;
tests/test_broker_acl.py shows a real Mosquitto accepting what these commands write)."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central import broker_accounts as accounts
from central import pki, provision
from central.broker_config import ConfigTemplateError, render

REPO = Path(__file__).resolve().parents[1]
SITE = "laocai-kimthanh2"


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    pki.init_site(tmp_path / "pki", SITE, ["10.20.0.5", "central.local"])
    return {"pki_dir": tmp_path / "pki", "broker_dir": tmp_path / "broker"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- password file format
def test_our_hash_is_the_one_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    theirs = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(theirs), "alice", "s3cret pass"], check=True, timeout=30)
    encoded = accounts.read_password_file(theirs)["alice"]
    assert encoded.startswith("$7$")
    assert accounts.check_password("s3cret pass", encoded)
    assert not accounts.check_password("s3cret pas", encoded)
    # and ours, with mosquitto's own salt and iteration count, is byte-identical
    _, _, iterations, salt, _ = encoded.split("$")
    assert accounts.hash_password("s3cret pass", iterations=int(iterations), salt=base64.b64decode(salt)) == encoded


def test_check_password_rejects_other_formats() -> None:
    with pytest.raises(accounts.AccountFileError, match=r"expected a \$7\$"):
        accounts.check_password("x", "$6$abc$def")


def test_generated_passwords_are_long_and_distinct() -> None:
    passwords = {accounts.generate_password() for _ in range(50)}
    assert len(passwords) == 50 and all(len(p) >= 43 and ":" not in p for p in passwords)


# ---------------------------------------------------------------- provisioning
def test_provision_edge_writes_account_acl_and_bundle(site: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "edge-gate1"
    provision.provision_edge(SITE, "gate1", ["x1", "x2"], out=out, broker_host="central.local", **site)
    password = (out / "gate1.mqtt-password").read_text().strip()
    assert mode(out / "gate1.mqtt-password") == 0o600
    stored = accounts.read_password_file(site["broker_dir"] / "passwd")
    assert accounts.check_password(password, stored[f"edge.{SITE}.gate1"])
    assert password not in (site["broker_dir"] / "passwd").read_text()
    assert mode(site["broker_dir"] / "passwd") == 0o640 and mode(site["broker_dir"] / "acl") == 0o640
    assert (out / "ca.crt").read_bytes() == (site["pki_dir"] / "ca.crt").read_bytes()
    config = yaml.safe_load((out / "gate1.yaml").read_text())
    assert config["site"] == SITE and config["edge_id"] == "gate1"
    assert [lane["id"] for lane in config["lanes"]] == ["x1", "x2"]
    assert config["mqtt"] == {
        "host": "central.local", "port": 8883, "username": f"edge.{SITE}.gate1",
        "password_file": "/etc/lanewatch/edge/gate1.mqtt-password", "tls": {"ca_file": "/etc/lanewatch/edge/ca.crt"},
    }
    provision.provision_edge(SITE, "gate1", ["x1", "x2"], out=out, **site)  # no --broker-host:
    assert yaml.safe_load((out / "gate1.yaml").read_text())["mqtt"]["host"] == "10.20.0.5"  # first name in server.crt


def test_provisioning_again_changes_nothing(site: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    provision.provision_edge(SITE, "gate1", ["x1", "x2"], out=out, **site)
    provision.provision_reader(accounts.central_account(), out=out, **site)
    files = [site["broker_dir"] / "passwd", site["broker_dir"] / "acl", out / "gate1.mqtt-password"]
    before = [path.read_bytes() for path in files]
    done = provision.provision_edge(SITE, "gate1", ["x1", "x2"], out=out, **site)
    assert [path.read_bytes() for path in files] == before
    assert any("kept the existing password" in line for line in done)
    assert any("kept the ACL block" in line for line in done)


def test_new_lanes_replace_the_block_and_keep_the_others(site: dict[str, Path], tmp_path: Path) -> None:
    acl = site["broker_dir"] / "acl"
    provision.provision_edge(SITE, "gate1", ["x1", "x2"], out=tmp_path / "a", **site)
    provision.provision_edge(SITE, "gate2", ["n1"], out=tmp_path / "b", **site)
    gate2_block = accounts.read_acl_blocks(acl)[f"edge.{SITE}.gate2"]
    provision.provision_edge(SITE, "gate1", ["x3"], out=tmp_path / "a", **site)
    blocks = accounts.read_acl_blocks(acl)
    assert list(blocks) == [f"edge.{SITE}.gate1", f"edge.{SITE}.gate2"]
    assert blocks[f"edge.{SITE}.gate1"] == accounts.edge_account(SITE, "gate1", ["x3"]).acl_block()
    assert "x1" not in acl.read_text()
    assert blocks[f"edge.{SITE}.gate2"] == gate2_block


def test_rotate_issues_a_new_password(site: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    provision.provision_edge(SITE, "gate1", ["x1"], out=out, **site)
    first = (out / "gate1.mqtt-password").read_text()
    provision.provision_edge(SITE, "gate1", ["x1"], out=out, rotate=True, **site)
    second = (out / "gate1.mqtt-password").read_text().strip()
    assert second != first.strip()
    stored = accounts.read_password_file(site["broker_dir"] / "passwd")[f"edge.{SITE}.gate1"]
    assert accounts.check_password(second, stored) and not accounts.check_password(first.strip(), stored)


def test_certificate_edge_gets_a_client_certificate_and_loses_its_password(
    site: dict[str, Path], tmp_path: Path
) -> None:
    provision.provision_edge(SITE, "gate1", ["x1"], out=tmp_path / "pw", **site)
    out = tmp_path / "cert"
    provision.provision_edge(SITE, "gate1", ["x1"], out=out, auth="certificate", **site)
    assert f"edge.{SITE}.gate1" not in accounts.read_password_file(site["broker_dir"] / "passwd")
    cert = x509.load_pem_x509_certificate((out / "gate1.crt").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"edge.{SITE}.gate1"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate((site["pki_dir"] / "ca.crt").read_bytes()))
    assert mode(out / "gate1.key") == 0o600
    assert yaml.safe_load((out / "gate1.yaml").read_text())["mqtt"]["port"] == 8884
    again = provision.provision_edge(SITE, "gate1", ["x1"], out=out, auth="certificate", **site)
    assert any("kept the client certificate" in line for line in again)


def test_hand_edits_outside_blocks_are_refused(site: dict[str, Path], tmp_path: Path) -> None:
    provision.provision_edge(SITE, "gate1", ["x1"], out=tmp_path / "b", **site)
    acl = site["broker_dir"] / "acl"
    acl.write_text(acl.read_text() + "topic readwrite #\n")  # would attach to gate1's `user` line
    with pytest.raises(accounts.AccountFileError, match=r"acl:\d+: line outside an account block"):
        provision.provision_edge(SITE, "gate2", ["n1"], out=tmp_path / "c", **site)
    acl.write_text("# BEGIN someone\nuser someone\n")
    with pytest.raises(accounts.AccountFileError, match="has no `# END someone` line"):
        accounts.read_acl_blocks(acl)


@pytest.mark.parametrize(
    ("site_id", "edge_id", "lanes", "message"),
    [
        ("Lao Cai", "gate1", ["x1"], "site must match"),
        (SITE, "gate/1", ["x1"], "edge must match"),
        (SITE, "gate1", ["edge"], "lane id 'edge' is reserved"),
        (SITE, "gate1", ["x1", "x1"], "lanes must be distinct"),
        (SITE, "gate1", [], "at least one lane"),
        (SITE, "gate1", ["#"], "lane must match"),
    ],
)
def test_bad_ids_are_refused_before_anything_is_written(
    site: dict[str, Path], tmp_path: Path, site_id: str, edge_id: str, lanes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        provision.provision_edge(site_id, edge_id, lanes, out=tmp_path / "b", **site)
    assert not (site["broker_dir"] / "acl").exists() and not (tmp_path / "b").exists()


def test_cli_reports_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [SITE, "gate1", "--lanes", "x1", "--ca-dir", str(tmp_path / "nopki"), "--broker-dir", str(tmp_path / "b")]
    assert provision.main_edge(argv + ["--out", str(tmp_path / "out")]) == 1
    assert "run `lanewatch-central pki init" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        provision.main_edge([SITE, "gate1", "--lanes", "x1,edge"])
    assert exit_info.value.code == 2
    assert "lane id 'edge' is reserved" in capsys.readouterr().err


def test_cli_provisions_central_and_kiosk(
    site: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--ca-dir", str(site["pki_dir"]), "--broker-dir", str(site["broker_dir"])]
    assert provision.main_central(common + ["--out", str(tmp_path / "c")]) == 0
    assert provision.main_kiosk(["lobby", "--site", SITE, "--out", str(tmp_path / "k")] + common) == 0
    assert "systemctl reload mosquitto" in capsys.readouterr().out
    blocks = accounts.read_acl_blocks(site["broker_dir"] / "acl")
    assert blocks["kiosk.lobby"] == f"user kiosk.lobby\ntopic read lanewatch/v1/{SITE}/+/summary\n"
    assert (tmp_path / "k" / "kiosk.lobby.mqtt-password").exists()


def test_acl_example_is_what_provisioning_writes(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    for account in (
        accounts.central_account(),
        accounts.edge_account(SITE, "gate1", ["x1", "x2"]),
        accounts.edge_account(SITE, "gate2", ["n1", "n2", "n3"]),
        accounts.kiosk_account("customs-lobby", SITE),
        accounts.kiosk_account("provincial-board"),
    ):
        accounts.upsert_acl(acl, account)
    assert (REPO / "configs/mosquitto/acl.example").read_text() == acl.read_text()


# ---------------------------------------------------------------- PKI
def test_site_ca_and_server_certificate(site: dict[str, Path]) -> None:
    files = pki.PkiFiles(site["pki_dir"])
    ca = x509.load_pem_x509_certificate(files.ca_crt.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_crt.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.20.0.5"]
    assert names.get_values_for_type(x509.DNSName) == ["central.local"]
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert mode(files.ca_key) == 0o600
    assert mode(files.server_key) in (0o640, 0o600)


def test_init_again_keeps_the_ca_and_renews_the_server_only_when_asked(site: dict[str, Path]) -> None:
    files = pki.PkiFiles(site["pki_dir"])
    ca, server = files.ca_crt.read_bytes(), files.server_crt.read_bytes()
    pki.init_site(site["pki_dir"], SITE, ["10.20.0.6"])
    assert (files.ca_crt.read_bytes(), files.server_crt.read_bytes()) == (ca, server)
    done = pki.init_site(site["pki_dir"], SITE, ["10.20.0.6"], renew_server=True)
    assert files.ca_crt.read_bytes() == ca and files.server_crt.read_bytes() != server
    assert "issued" in done[-1] and "10.20.0.6" in done[-1]


def test_init_refuses_another_sites_ca(site: dict[str, Path]) -> None:
    with pytest.raises(pki.PkiError, match="belongs to site 'laocai-kimthanh2', not 'hekou'"):
        pki.init_site(site["pki_dir"], "hekou", ["x"])


def test_a_ca_key_that_does_not_match_is_refused(site: dict[str, Path], tmp_path: Path) -> None:
    pki.init_site(tmp_path / "other", SITE, ["x"])
    shutil.copyfile(tmp_path / "other" / "ca.key", site["pki_dir"] / "ca.key")
    with pytest.raises(pki.PkiError, match="is not the key of"):
        pki.load_ca(site["pki_dir"])


def test_pki_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pki.main(["init", "--site", SITE, "--out", str(tmp_path), "--host", "192.168.1.10"]) == 0
    out = capsys.readouterr().out
    assert "created the CA" in out and "192.168.1.10" in out and "localhost" in out
    assert pki.main(["init", "--site", "Bad Site", "--out", str(tmp_path / "x")]) == 1
    assert "site must match" in capsys.readouterr().err


# ---------------------------------------------------------------- config rendering
def test_rendering_with_production_values_is_the_identity() -> None:
    template = (REPO / "configs/mosquitto/mosquitto.conf").read_text()
    production = render(
        template, pki_dir=Path("/etc/lanewatch/pki"), broker_dir=Path("/etc/lanewatch/broker"),
        state_dir=Path("/var/lib/mosquitto"), tls_port=8883, cert_port=8884,
    )
    assert production == template


def test_rendering_a_template_without_a_directive_fails() -> None:
    template = (REPO / "configs/mosquitto/mosquitto.conf").read_text().replace("acl_file ", "#acl_file ")
    with pytest.raises(ConfigTemplateError, match="lacks acl_file"):
        render(template, pki_dir=Path("/p"), broker_dir=Path("/b"), state_dir=Path("/s"), tls_port=1, cert_port=2)


@pytest.mark.parametrize("auth", ["password", "certificate"])
def test_the_config_skeleton_loads_once_cameras_are_added(site: dict[str, Path], tmp_path: Path, auth: str) -> None:
    from edge.config import EdgeConfig
    from lanewatch.config import load_config
    from lanewatch.mqtt import make_client

    out = tmp_path / "bundle"
    provision.provision_edge(SITE, "gate1", ["x1"], out=out, auth=auth, **site)  # type: ignore[arg-type]
    text = (out / "gate1.yaml").read_text().replace("/etc/lanewatch/edge", str(out))  # as installed, here
    config = yaml.safe_load(text)
    config["data_dir"] = str(tmp_path / "data")
    config["lanes"][0]["cameras"] = [{"id": "cam1", "source": {"type": "file", "path": "cam1.mp4"}}]
    (out / "gate1.yaml").write_text(yaml.safe_dump(config))
    loaded = load_config(out / "gate1.yaml", EdgeConfig)
    assert loaded.mqtt.tls is not None and loaded.mqtt.tls.ca_file == out / "ca.crt"
    if auth == "password":
        assert loaded.mqtt.password is not None
        assert loaded.mqtt.password.get_secret_value() == (out / "gate1.mqtt-password").read_text().strip()
    else:
        assert loaded.mqtt.password is None and loaded.mqtt.tls.cert_file == out / "gate1.crt"
    make_client(loaded.mqtt, "check")  # the TLS files load


def test_a_missing_password_file_is_a_config_error(tmp_path: Path) -> None:
    from lanewatch.config import ConfigError, load_config
    from lanewatch.mqtt import MqttSettings

    (tmp_path / "m.yaml").write_text("password_file: nope.txt\n")
    with pytest.raises(ConfigError, match=f"cannot read password_file {tmp_path / 'nope.txt'}: No such file"):
        load_config(tmp_path / "m.yaml", MqttSettings)
