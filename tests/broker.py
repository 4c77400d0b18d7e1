"""A real Mosquitto broker for tests, on a free loopback port, that tests can stop, kill and restart."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


# Test ports come from below the kernel's ephemeral range (32768-60999 on Linux), so that no port the kernel hands
# out (outgoing connections, `bind(0)`) can take one between our choosing it and a server binding it; and each
# pytest-xdist worker has its own slice, so that two workers never choose the same one.
_PORT_BASE, _PORT_SPAN = 20000, 12000
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, never handed out twice by this process."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    width = _PORT_SPAN // workers
    first = _PORT_BASE + index * width
    start = random.randrange(width)
    for step in range(width):
        port = first + (start + step) % width
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {first}-{first + width - 1}")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Broker:
    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = "",
                 tls: tuple[Path, Path, Path] | None = None, password_file: Path | None = None):
        """`tls`: (CA, certificate, key) files for a TLS listener; `password_file`: accounts required."""
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + (f"cafile {tls[0]}\ncertfile {tls[1]}\nkeyfile {tls[2]}\n" if tls else "")
            + (f"allow_anonymous false\npassword_file {password_file}\n" if password_file else "allow_anonymous true\n")
            # As root, Mosquitto drops to its own user and could then not write its persistence file
            # (or read the password file) under root's private temporary folders.
            + ("user root\n" if os.geteuid() == 0 else "")
            + "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_queued_messages 0\n"  # keep every queued QoS 1 message for offline persistent sessions
            "log_dest stderr\n"
            + extra_config
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        with open(self.workdir / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
