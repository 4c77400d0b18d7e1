"""Byte transports to an indicator: a serial port (pyserial) or a raw TCP socket (serial-to-Ethernet).

Both read with a short timeout and return b"" when the line is quiet; both raise OSError when
the port is gone, which is what the reader's reopen-with-backoff waits for.
"""

from __future__ import annotations

import socket

import serial

from edge.weighbridge.config import SerialConnection, TcpConnection

READ_TIMEOUT_S = 0.1
CONNECT_TIMEOUT_S = 3.0
_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class SerialTransport:
    def __init__(self, connection: SerialConnection, read_timeout_s: float = READ_TIMEOUT_S):
        self.connection = connection
        self._timeout = read_timeout_s
        self._port: serial.Serial | None = None

    def describe(self) -> str:
        c = self.connection
        return f"{c.device} {c.baud} {c.bytesize}{c.parity}{c.stopbits}"

    def open(self) -> None:
        c = self.connection
        try:
            self._port = serial.Serial(
                port=c.device,
                baudrate=c.baud,
                bytesize=c.bytesize,
                parity=_PARITY[c.parity],
                stopbits=c.stopbits,
                timeout=self._timeout,
                exclusive=True,  # a second reader on the same port would steal bytes from both
            )
        except (serial.SerialException, ValueError) as exc:
            raise OSError(f"cannot open serial port {self.describe()}: {exc}") from exc

    def read(self) -> bytes:
        port = self._require()
        try:
            first = port.read(1)  # blocks up to the timeout: no busy loop on a quiet line
            if not first:
                return b""
            waiting = port.in_waiting
            return first + port.read(waiting) if waiting else first
        except serial.SerialException as exc:
            raise OSError(f"serial port {self.connection.device} failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._require().write(data)
        except serial.SerialException as exc:
            raise OSError(f"serial port {self.connection.device} failed: {exc}") from exc

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (OSError, serial.SerialException):
                pass  # the port is gone already; nothing left to release
            self._port = None

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise OSError(f"serial port {self.connection.device} is not open")
        return self._port


class TcpTransport:
    def __init__(self, connection: TcpConnection, read_timeout_s: float = READ_TIMEOUT_S):
        self.connection = connection
        self._timeout = read_timeout_s
        self._sock: socket.socket | None = None

    def describe(self) -> str:
        return f"tcp://{self.connection.host}:{self.connection.port}"

    def open(self) -> None:
        c = self.connection
        try:
            sock = socket.create_connection((c.host, c.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise OSError(f"cannot connect to {self.describe()}: {exc}") from exc
        sock.settimeout(self._timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock

    def read(self) -> bytes:
        sock = self._require()
        try:
            data = sock.recv(4096)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionResetError(f"{self.describe()} closed the connection")
        return data

    def write(self, data: bytes) -> None:
        self._require().sendall(data)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise OSError(f"{self.describe()} is not connected")
        return self._sock


Transport = SerialTransport | TcpTransport


def make_transport(connection: SerialConnection | TcpConnection, read_timeout_s: float = READ_TIMEOUT_S) -> Transport:
    if isinstance(connection, SerialConnection):
        return SerialTransport(connection, read_timeout_s)
    return TcpTransport(connection, read_timeout_s)
