"""Modbus indicators: the reader polls a real pymodbus server (TCP on a free port, RTU over ptys)."""

from __future__ import annotations

import asyncio
import os
import select
import threading
import tty
from collections.abc import Callable, Iterator

import pytest
from broker import free_port
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from weighbridge_rig import wait_until

from edge.weighbridge.config import ModbusRegisters, parse_config
from edge.weighbridge.modbus import block, decode_registers, encode_registers
from edge.weighbridge.reader import WeighbridgeReader

REGISTERS = {
    "table": "holding",
    "weight": {"address": 10, "type": "int32", "word_order": "little", "scale": 10.0},
    "status": {"address": 12, "motion_bit": 3, "overload_bit": 5},
}


class Indicator:
    """What the simulated indicator shows; the server's action copies it into the registers on each read."""

    def __init__(self, registers: ModbusRegisters):
        self.registers = registers
        self.weight_kg, self.motion = 0.0, False
        self.reads = 0

    async def action(self, function_code, start_address, address, count, current_registers, set_values):
        self.reads += 1
        for reg, value in encode_registers(self.weight_kg, self.registers, motion=self.motion).items():
            if 0 <= reg - start_address < len(current_registers):
                current_registers[reg - start_address] = value
        return None


def device(indicator: Indicator, device_id: int = 7) -> SimDevice:
    return SimDevice(
        id=device_id,
        simdata=[SimData(address=0, count=40, values=0, datatype=DataType.REGISTERS)],
        action=indicator.action,
    )


class ServerThread:
    """A pymodbus server running in its own event loop, for the length of a `with` block."""

    def __init__(self, make_server: Callable[[], ModbusTcpServer | ModbusSerialServer]):
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._make = make_server
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self.server = self._make()  # pymodbus servers are made inside their running loop
        await self.server.serve_forever(background=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@pytest.fixture
def indicator() -> Indicator:
    return Indicator(ModbusRegisters.model_validate(REGISTERS))


def polling_reader(protocol: str, connection: dict) -> WeighbridgeReader:
    """The reader both transports are tested with: device 7, the map above, fast polls, a short window."""
    return WeighbridgeReader(parse_config({
        "protocol": protocol, "connection": connection, "device_id": 7, "registers": REGISTERS,
        "poll_interval_s": 0.02, "stable": {"window_s": 0.5},
    }))


def exercise(reader: WeighbridgeReader, indicator: Indicator) -> None:
    """Drive the indicator through a truck visit and check what the reader saw."""
    with reader:
        assert wait_until(lambda: reader.state == "ok")
        assert reader.health().weight_kg == 0.0
        indicator.weight_kg, indicator.motion = 18_000.0, True
        assert wait_until(lambda: reader.health().weight_kg == 18_000.0)
        indicator.weight_kg, indicator.motion = 26_730.0, False
        assert wait_until(lambda: any(e.event.weight_kg == 26_730.0 for e in list(reader.events)), 5.0)
        indicator.weight_kg = 130_000.0  # beyond capacity: flagged, not captured
        assert wait_until(lambda: any(getattr(e.event, "kind", "") == "overload" for e in list(reader.events)))
    readings = reader.drain()
    assert {r.reading.motion for r in readings if r.reading.weight_kg == 18_000.0} == {True}
    assert [e.event.weight_kg for e in reader.drain_events() if not hasattr(e.event, "kind")] == [26_730.0]
    assert reader.source.stats.frame_errors == 0


def test_modbus_tcp_against_a_pymodbus_server(indicator):
    port = free_port()
    with ServerThread(lambda: ModbusTcpServer(device(indicator), address=("127.0.0.1", port))):
        exercise(polling_reader("modbus-tcp", {"host": "127.0.0.1", "port": port}), indicator)


def _bridge(a: int, b: int, stop: threading.Event) -> None:
    """Copy bytes both ways between two pty masters: a null-modem cable between two serial ports."""
    while not stop.is_set():
        ready, _, _ = select.select([a, b], [], [], 0.05)
        for fd in ready:
            try:
                data = os.read(fd, 4096)
                os.write(b if fd == a else a, data)
            except OSError:
                return


@pytest.fixture
def null_modem() -> Iterator[tuple[str, str]]:
    """Two serial ports (pty slaves) joined by a cable: (the indicator's end, the reader's end)."""
    ends = [os.openpty() for _ in range(2)]
    for _, slave in ends:
        tty.setraw(slave)
    stop = threading.Event()
    cable = threading.Thread(target=_bridge, args=(ends[0][0], ends[1][0], stop), daemon=True)
    cable.start()
    try:
        yield os.ttyname(ends[0][1]), os.ttyname(ends[1][1])
    finally:
        stop.set()
        cable.join(2)
        for master, slave in ends:
            os.close(master)
            os.close(slave)


def test_modbus_rtu_over_a_pty_null_modem(indicator, null_modem):
    server_path, client_path = null_modem
    with ServerThread(lambda: ModbusSerialServer(device(indicator), port=server_path, baudrate=19200)):
        exercise(polling_reader("modbus-rtu", {"device": client_path, "baud": 19200, "parity": "N"}), indicator)


def test_no_answer_is_a_lost_port():
    config = parse_config(
        {
            "protocol": "modbus-tcp",
            "connection": {"host": "127.0.0.1", "port": free_port()},
            "registers": REGISTERS,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.1,
        }
    )
    reader = WeighbridgeReader(config)
    with reader:
        assert wait_until(lambda: reader.reconnects >= 2)
    assert reader.health().state == "connecting" and reader.opens == 0


# ------------------------------------------------------------------ register decoding

maps = st.builds(
    lambda t, order, scale, addr, status: ModbusRegisters.model_validate(
        {
            "weight": {"address": addr, "type": t, "word_order": order, "scale": scale},
            "status": {"address": addr + 2, "motion_bit": 0} if status else None,
        }
    ),
    st.sampled_from(["int16", "uint16", "int32", "uint32", "float32"]),
    st.sampled_from(["big", "little"]),
    st.sampled_from([1.0, 10.0, 0.1, 20.0]),
    st.integers(0, 1000),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(registers=maps, values=st.lists(st.integers(-70_000, 70_000), max_size=6), first=st.integers(0, 1010))
def test_any_register_values_never_raise(registers, values, first):
    reading = decode_registers(values, first, registers)
    assert reading is None or reading.weight_kg == reading.weight_kg  # not NaN


@settings(max_examples=200, deadline=None)
@given(registers=maps, units=st.integers(0, 32_000), motion=st.booleans())
def test_registers_round_trip(registers, units, motion):
    weight = units * registers.weight.scale
    encoded = encode_registers(weight, registers, motion=motion)
    first, count = block(registers)
    values = [encoded.get(first + i, 0) for i in range(count)]
    reading = decode_registers(values, first, registers)
    assert reading is not None
    assert reading.weight_kg == pytest.approx(weight, rel=1e-6)
    assert reading.motion == (motion if registers.status else None)
