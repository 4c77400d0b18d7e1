"""Render the shipped Mosquitto configuration for another place: a test, a demo, a non-standard install.

`configs/mosquitto/mosquitto.conf` is written for the production layout (/etc/lanewatch/...,
ports 8883/8884). `render` moves its files and ports without touching anything else, and fails
when an expected directive is missing, so a test of the rendered file is a test of the shipped one.
"""

from __future__ import annotations

from pathlib import Path

PRODUCTION_PKI_DIR = "/etc/lanewatch/pki"
PRODUCTION_BROKER_DIR = "/etc/lanewatch/broker"
PRODUCTION_STATE_DIR = "/var/lib/mosquitto"
TLS_PORT, CERT_PORT = 8883, 8884
DEMO_BEGIN, DEMO_END = "# ================================================================ DEMO ONLY", "# ======"


class ConfigTemplateError(Exception):
    """The shipped configuration no longer has a directive the renderer moves."""


def render(
    template: str,
    *,
    pki_dir: Path,
    broker_dir: Path,
    state_dir: Path,
    tls_port: int,
    cert_port: int,
    bind: str | None = None,
    demo_plain_port: int | None = None,
) -> str:
    """The configuration with files under the given directories and listeners on the given ports.

    `bind` limits the TLS listeners to one address (tests use 127.0.0.1); `demo_plain_port`
    enables the commented-out loopback plain-text listener.
    """
    moved_dirs = {PRODUCTION_PKI_DIR: pki_dir, PRODUCTION_BROKER_DIR: broker_dir}
    ports = {TLS_PORT: tls_port, CERT_PORT: cert_port}
    seen: set[str] = set()
    out: list[str] = []
    in_demo = False
    for line in template.splitlines():
        if line.startswith(DEMO_BEGIN):
            in_demo = True
        elif in_demo and line.startswith(DEMO_END):
            in_demo = False
        elif in_demo and demo_plain_port is not None and line.startswith("#listener "):
            address = line.split()[2]
            line = f"listener {demo_plain_port} {address}"
            seen.add("demo listener")
        elif in_demo and demo_plain_port is not None and line.startswith("#protocol "):
            line = line[1:]
        elif line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            if key in ("cafile", "certfile", "keyfile", "password_file", "acl_file"):
                directory, name = value.rsplit("/", 1)
                if directory not in moved_dirs:
                    raise ConfigTemplateError(f"{key} {value}: expected a file under {' or '.join(moved_dirs)}")
                line = f"{key} {moved_dirs[directory]}/{name}"
                seen.add(key)
            elif key == "persistence_location":
                if value.rstrip("/") != PRODUCTION_STATE_DIR:
                    raise ConfigTemplateError(f"persistence_location {value}: expected {PRODUCTION_STATE_DIR}/")
                line = f"persistence_location {state_dir}/"
                seen.add(key)
            elif key == "listener":
                port = int(value.split()[0])
                if port not in ports:
                    raise ConfigTemplateError(f"listener {value}: expected port {' or '.join(map(str, ports))}")
                line = f"listener {ports[port]}" + (f" {bind}" if bind else "")
                seen.add(f"listener {port}")
        out.append(line)
    wanted = {"cafile", "certfile", "keyfile", "password_file", "acl_file", "persistence_location"}
    wanted |= {f"listener {port}" for port in ports}
    if demo_plain_port is not None:
        wanted.add("demo listener")
    if missing := wanted - seen:
        raise ConfigTemplateError(f"the template lacks {', '.join(sorted(missing))}")
    return "\n".join(out) + "\n"
