"""A broken config stops a process at start with a message naming the file, the key and what was expected."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

GOOD_EDGE = {
    "site": "laocai", "edge_id": "gate1",
    "lanes": [{"id": "out-1", "direction": "export",
               "cameras": [{"id": "cam1", "source": {"type": "file", "path": "x.mp4"}}]}],
}


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"{tool}.cli", *args], capture_output=True, text=True, timeout=60)


def test_missing_file_is_named(tmp_path):
    result = run("edge", "run", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78 does not restart it
    assert f"{tmp_path / 'nope.yaml'}: config file not found" in result.stderr


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.update(sitee="x"), "sitee: Extra inputs are not permitted"),
        (lambda c: c["lanes"][0].update(direction="north"),
         "lanes[0].direction: Input should be 'export' or 'import' (got 'north')"),
        (lambda c: c["lanes"][0]["cameras"][0].update(analysis_fps=0),
         "lanes[0].cameras[0].analysis_fps: Input should be greater than 0"),
        (lambda c: c["lanes"][0]["cameras"][0]["source"].update(type="ftp"),
         "lanes[0].cameras[0].source: Input tag 'ftp' found using 'type' does not match"),
        (lambda c: c["lanes"][0].update(id="Out 1"), "lanes[0].id: Value error, lane must match"),
        (lambda c: c.update(lanes=[c["lanes"][0], c["lanes"][0]]), "lane ids must be unique, repeated: out-1"),
        (lambda c: c["lanes"][0]["cameras"][0].update(geometry={"queue_zone": [[0, 0], [1, 1]]}),
         "queue_zone: Value error, a zone needs at least 3 points, got 2"),
    ],
)
def test_invalid_edge_config_names_key(tmp_path, change, expected):
    config = yaml.safe_load(yaml.safe_dump(GOOD_EDGE))
    change(config)
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run("edge", "check-config", "--config", str(path))
    assert result.returncode == 2, result.stdout
    assert str(path) in result.stderr and expected in result.stderr


def test_good_edge_config_passes(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(GOOD_EDGE))
    result = run("edge", "check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr


def test_yaml_syntax_error(tmp_path):
    path = tmp_path / "central.yaml"
    path.write_text("sites: [unclosed\n")
    result = run("central", "run", "--config", str(path))
    assert result.returncode == 78 and "not valid YAML" in result.stderr


def test_central_unknown_key(tmp_path):
    path = tmp_path / "central.yaml"
    sites = [{"id": "laocai", "name": "x", "lanes": [{"id": "a", "direction": "export"}]}]
    path.write_text(yaml.safe_dump({"sites": sites, "http": {"prot": 80}}))
    result = run("central", "run", "--config", str(path))
    assert result.returncode == 78 and "http.prot: Extra inputs are not permitted" in result.stderr
