"""Weighbridge config models: one per protocol, typos are errors, every field is described."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from edge.weighbridge import config
from edge.weighbridge.config import PROTOCOLS, parse_config

SERIAL = {"device": "/dev/ttyUSB0"}
TCP = {"host": "192.168.1.50", "port": 4001}
REGISTERS = {"weight": {"address": 0}}


@pytest.mark.parametrize(
    "data",
    [
        {"protocol": "yaohua-tf0", "connection": SERIAL},
        {"protocol": "yaohua-tf1", "connection": TCP, "unit": "t"},
        {"protocol": "toledo", "connection": {**SERIAL, "bytesize": 7, "parity": "E"}, "checksum": False},
        {"protocol": "sma", "connection": SERIAL, "poll_interval_s": 0.2},
        {"protocol": "modbus-rtu", "connection": SERIAL, "registers": REGISTERS},
        {"protocol": "modbus-tcp", "connection": {**TCP, "port": 502}, "registers": REGISTERS},
    ],
)
def test_each_protocol_has_a_minimal_config(data):
    config = parse_config(data)
    assert config.protocol == data["protocol"] and config.protocol in PROTOCOLS
    assert config.stable.min_load_kg > config.stable.zero_band_kg


@pytest.mark.parametrize(
    "data, where",
    [
        ({"protocol": "toledo", "connection": SERIAL, "checksun": True}, "toledo.checksun"),
        ({"protocol": "toledo", "connection": {**SERIAL, "baudrate": 9600}}, "toledo.connection.serial.baudrate"),
        ({"protocol": "sma", "connection": {**SERIAL, "parity": "X"}}, "sma.connection.serial.parity"),
        ({"protocol": "modbus-tcp", "connection": SERIAL, "registers": REGISTERS}, "modbus-tcp.connection.host"),
        ({"protocol": "modbus-rtu", "connection": SERIAL, "registers": {"weight": {"address": 0, "type": "int64"}}},
         "modbus-rtu.registers.weight.type"),
        ({"protocol": "yaohua-tf0", "connection": SERIAL, "stable": {"zero_band_kg": 2000}}, "yaohua-tf0.stable"),
        ({"protocol": "yaohua-tf0", "connection": SERIAL, "reconnect_min_s": 60}, "yaohua-tf0"),
        ({"protocol": "xk3190", "connection": SERIAL}, "protocol"),
    ],
)
def test_mistakes_are_reported_with_their_key_path(data, where):
    with pytest.raises(ValidationError) as exc:
        parse_config(data)
    paths = [".".join(str(p) for p in err["loc"]) for err in exc.value.errors()]
    assert any(p == where or (where == "protocol" and p == "") for p in paths), paths


def _fields(model: type[BaseModel], seen: set) -> list[tuple[str, str, object]]:
    if model in seen:
        return []
    seen.add(model)
    out = []
    for name, field in model.model_fields.items():
        out.append((model.__name__, name, field.description))
        for arg in getattr(field.annotation, "__args__", ()) + (field.annotation,):
            for inner in getattr(arg, "__args__", ()) + (arg,):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    out += _fields(inner, seen)
    return out


def test_every_field_is_described():
    seen: set = set()
    fields = []
    for model in (
        config.YaohuaTf0Config, config.YaohuaTf1Config, config.ToledoConfig, config.SmaConfig,
        config.ModbusRtuConfig, config.ModbusTcpConfig, config.SerialConnection, config.TcpConnection,
    ):
        fields += _fields(model, seen)
    missing = [f"{m}.{n}" for m, n, d in fields if not d]
    assert len(fields) > 40 and not missing, missing
