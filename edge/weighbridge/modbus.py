"""Modbus RTU/TCP indicators through pymodbus, with the register map taken from the config.

There is no common register map among indicator makers, so the weight's address, type, word order
and scale (and an optional status word with motion/overload bits) are configured per model.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.weighbridge.config import ModbusRegisters, ModbusRtuConfig, ModbusTcpConfig
from edge.weighbridge.reading import ParserStats, Reading

_WORDS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
_FORMAT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


def block(registers: ModbusRegisters) -> tuple[int, int]:
    """(first address, count) of the one read that covers weight and status."""
    weight = registers.weight
    first, last = weight.address, weight.address + _WORDS[weight.type] - 1
    if registers.status is not None:
        first, last = min(first, registers.status.address), max(last, registers.status.address)
    return first, last - first + 1


def decode_registers(values: Sequence[int], first: int, registers: ModbusRegisters) -> Reading | None:
    """The reading in `values` (registers from address `first`); None when they cannot hold one."""
    weight = registers.weight
    offset = weight.address - first
    words = list(values[offset : offset + _WORDS[weight.type]])
    if offset < 0 or len(words) != _WORDS[weight.type] or not all(0 <= w <= 0xFFFF for w in words):
        return None
    if weight.word_order == "little":
        words.reverse()
    (raw,) = struct.unpack(_FORMAT[weight.type], b"".join(w.to_bytes(2, "big") for w in words))
    if not math.isfinite(raw):
        return None
    reading = Reading(weight_kg=raw * weight.scale)
    status = registers.status
    if status is None:
        return reading
    index = status.address - first
    if not 0 <= index < len(values) or not 0 <= values[index] <= 0xFFFF:
        return None
    bits = values[index]
    motion: bool | None = None
    if status.motion_bit is not None:
        motion = bool(bits >> status.motion_bit & 1)
    elif status.stable_bit is not None:
        motion = not bits >> status.stable_bit & 1
    overload = status.overload_bit is not None and bool(bits >> status.overload_bit & 1)
    return Reading(weight_kg=reading.weight_kg, motion=motion, overload=overload)


class ModbusSource:
    """Polls one indicator; `read()` returns at most one reading per poll."""

    def __init__(self, config: ModbusRtuConfig | ModbusTcpConfig):
        self.config = config
        self.stats = ParserStats()
        self._first, self._count = block(config.registers)
        self._client: ModbusSerialClient | ModbusTcpClient | None = None

    def describe(self) -> str:
        return f"{self.config.protocol} on {_where(self.config)}"

    def open(self) -> None:
        conn = self.config.connection
        client: ModbusSerialClient | ModbusTcpClient
        if isinstance(self.config, ModbusRtuConfig):
            serial = self.config.connection
            client = ModbusSerialClient(
                serial.device,
                baudrate=serial.baud,
                parity=serial.parity,
                stopbits=serial.stopbits,
                bytesize=serial.bytesize,
                timeout=self.config.timeout_s,
                retries=0,
            )
        else:
            client = ModbusTcpClient(conn.host, port=conn.port, timeout=self.config.timeout_s, retries=0)  # type: ignore[union-attr]
        if not client.connect():
            client.close()
            raise OSError(f"cannot connect to Modbus indicator at {_where(self.config)}")
        self._client = client

    def read(self) -> list[Reading]:
        """One request; raises OSError when the indicator stops answering (the reader reopens)."""
        if self._client is None:
            raise OSError("Modbus source is not open")
        call = (
            self._client.read_holding_registers
            if self.config.registers.table == "holding"
            else self._client.read_input_registers
        )
        try:
            reply = call(self._first, count=self._count, device_id=self.config.device_id)
        except ModbusException as exc:
            raise OSError(f"Modbus request to {_where(self.config)} failed: {exc}") from exc
        if reply.isError():
            # The device answered with an exception code: the line works, the map is wrong.
            self.stats.framing_errors += 1
            return []
        reading = decode_registers(reply.registers, self._first, self.config.registers)
        if reading is None:
            self.stats.framing_errors += 1
            return []
        self.stats.frames += 1
        return [reading]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _where(config: ModbusRtuConfig | ModbusTcpConfig) -> str:
    conn = config.connection
    return conn.device if isinstance(config, ModbusRtuConfig) else f"{conn.host}:{conn.port}"  # type: ignore[union-attr]


def encode_registers(
    weight_kg: float, registers: ModbusRegisters, *, motion: bool = False, overload: bool = False
) -> dict[int, int]:
    """Register address → value an indicator with this map would hold (for tests and the simulator)."""
    weight = registers.weight
    raw: float = weight_kg / weight.scale
    packed = struct.pack(_FORMAT[weight.type], raw if weight.type == "float32" else round(raw))
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    if weight.word_order == "little":
        words.reverse()
    out = {weight.address + i: w for i, w in enumerate(words)}
    status = registers.status
    if status is not None:
        bits = 0
        if status.motion_bit is not None and motion:
            bits |= 1 << status.motion_bit
        if status.stable_bit is not None and not motion:
            bits |= 1 << status.stable_bit
        if status.overload_bit is not None and overload:
            bits |= 1 << status.overload_bit
        out[status.address] = bits
    return out
