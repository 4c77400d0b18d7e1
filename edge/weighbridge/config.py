"""Weighbridge configuration: one model per protocol, chosen by `protocol` (the lane's `weighbridge:` key)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

PROTOCOLS = ("yaohua-tf0", "yaohua-tf1", "toledo", "sma", "modbus-rtu", "modbus-tcp")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SerialConnection(_Model):
    """An RS-232/RS-485 port on the gate computer (USB adapters included)."""

    kind: Literal["serial"] = Field("serial", description="the indicator is on a serial port")
    device: str = Field(min_length=1, description="serial device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…")
    baud: int = Field(9600, ge=300, le=115_200, description="line speed in baud (indicators: 1200-9600)")
    parity: Literal["N", "E", "O"] = Field("N", description="parity: N none, E even, O odd")
    stopbits: Literal[1, 2] = Field(1, description="stop bits")
    bytesize: Literal[7, 8] = Field(8, description="data bits per character (Toledo terminals often use 7E1)")


class TcpConnection(_Model):
    """A serial-to-Ethernet converter (raw TCP server mode) or a Modbus TCP indicator."""

    kind: Literal["tcp"] = Field("tcp", description="the indicator is reached over TCP")
    host: str = Field(min_length=1, description="converter or indicator host name or IP address")
    port: int = Field(ge=1, le=65_535, description="TCP port (converters often 4001 or 8899; Modbus 502)")


def connection_kind(value: object) -> str:
    """`kind` may be left out: a `host` key means TCP, anything else a serial port."""
    if isinstance(value, dict):
        return str(value.get("kind") or ("tcp" if "host" in value else "serial"))
    return str(getattr(value, "kind", "serial"))


Connection = Annotated[
    Annotated[SerialConnection, Tag("serial")] | Annotated[TcpConnection, Tag("tcp")],
    Discriminator(connection_kind),
]


class StableConfig(_Model):
    """When a reading counts as one truck's stable weight."""

    min_load_kg: float = Field(1_000.0, gt=0, description="weights below this are not a truck on the deck")
    tolerance_kg: float = Field(20.0, ge=0, description="largest spread (max - min) allowed within the window")
    window_s: float = Field(3.0, gt=0, le=60, description="how long the weight must stay within tolerance")
    zero_band_kg: float = Field(100.0, ge=0, description="|weight| at or below this is an empty deck (re-arms capture)")
    capacity_kg: float = Field(120_000.0, gt=0, le=200_000, description="weights above this are flagged as overload")
    auto_zero_range_kg: float = Field(
        200.0, ge=0, description="software zero tracking follows an empty deck's drift up to this far from 0 (0 = off)"
    )
    max_gap_s: float = Field(1.0, gt=0, description="a longer pause between readings restarts the window")
    trust_motion: bool = Field(True, description="treat the indicator's motion flag, where it sends one, as unstable")

    @model_validator(mode="after")
    def _check_bands(self) -> StableConfig:
        if self.zero_band_kg >= self.min_load_kg:
            raise ValueError(
                f"zero_band_kg ({self.zero_band_kg}) must be below min_load_kg ({self.min_load_kg})"
            )
        if self.min_load_kg >= self.capacity_kg:
            raise ValueError(f"min_load_kg ({self.min_load_kg}) must be below capacity_kg ({self.capacity_kg})")
        return self


class _Common(_Model):
    stable: StableConfig = Field(StableConfig.model_validate({}), description="stable-weight capture")
    reconnect_min_s: float = Field(0.5, gt=0, description="first wait before reopening a lost port")
    reconnect_max_s: float = Field(30.0, gt=0, description="longest wait between reopen attempts (backoff cap)")
    stale_after_s: float = Field(
        5.0, gt=0, description="no valid frame for this long means the line is lost: reported and reopened"
    )

    @model_validator(mode="after")
    def _check_backoff(self) -> _Common:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError(
                f"reconnect_min_s ({self.reconnect_min_s}) must not exceed reconnect_max_s ({self.reconnect_max_s})"
            )
        return self


class YaohuaTf0Config(_Common):
    """Yaohua XK3190 (A9, A12, A23P, DS3…) continuous format 0."""

    protocol: Literal["yaohua-tf0"] = Field(description="Yaohua XK3190 continuous output format 0 (12-byte frames)")
    connection: Connection = Field(description="where the indicator is connected")
    unit: Literal["kg", "t"] = Field("kg", description="unit the indicator displays (frames carry no unit)")


class YaohuaTf1Config(_Common):
    """Yaohua XK3190 continuous format 1 (`=` + reversed digits)."""

    protocol: Literal["yaohua-tf1"] = Field(description="Yaohua XK3190 continuous output format 1 (reversed)")
    connection: Connection = Field(description="where the indicator is connected")
    unit: Literal["kg", "t"] = Field("kg", description="unit the indicator displays (frames carry no unit)")


class ToledoConfig(_Common):
    """Mettler Toledo continuous output (and the many indicators that imitate it)."""

    protocol: Literal["toledo"] = Field(description="Mettler Toledo continuous output (18-byte frames)")
    connection: Connection = Field(description="where the indicator is connected")
    checksum: bool = Field(True, description="frames end with the checksum character (17-byte frames when false)")


class SmaConfig(_Common):
    """SMA SCP-01 request/response: we ask `<LF>W<CR>` and the indicator answers."""

    protocol: Literal["sma"] = Field(description="SMA SCP-01 standard scale protocol, level 1")
    connection: Connection = Field(description="where the indicator is connected")
    poll_interval_s: float = Field(0.1, gt=0, le=10, description="time between weight requests")


class ModbusValue(_Model):
    """Where the weight lives in the register map, and how to read it."""

    address: int = Field(ge=0, le=65_535, description="zero-based register address of the weight")
    type: Literal["int16", "uint16", "int32", "uint32", "float32"] = Field("int32", description="register data type")
    word_order: Literal["big", "little"] = Field(
        "big", description="32-bit values: big = high word first (Modbus convention), little = low word first"
    )
    scale: float = Field(1.0, gt=0, description="multiply the register value by this to get kilograms")


class ModbusStatus(_Model):
    """An optional status register with bit flags."""

    address: int = Field(ge=0, le=65_535, description="zero-based register address of the status word")
    motion_bit: int | None = Field(None, ge=0, le=15, description="bit set while the scale is in motion")
    stable_bit: int | None = Field(
        None, ge=0, le=15, description="bit set while the scale is stable (used when there is no motion bit)"
    )
    overload_bit: int | None = Field(None, ge=0, le=15, description="bit set on overload")


class ModbusRegisters(_Model):
    table: Literal["holding", "input"] = Field("holding", description="holding (function 3) or input (function 4)")
    weight: ModbusValue = Field(description="the gross/displayed weight")
    status: ModbusStatus | None = Field(None, description="status flags, if the indicator has them")

    @model_validator(mode="after")
    def _one_block(self) -> ModbusRegisters:
        if self.status is not None and abs(self.status.address - self.weight.address) > 120:
            raise ValueError("status and weight registers must lie within 120 registers of each other (one read)")
        return self


class _ModbusCommon(_Common):
    device_id: int = Field(1, ge=0, le=247, description="Modbus device (slave/unit) id")
    registers: ModbusRegisters = Field(description="register map of this indicator model")
    poll_interval_s: float = Field(0.1, gt=0, le=10, description="time between register reads")
    timeout_s: float = Field(1.0, gt=0, le=10, description="reply timeout of one request")


class ModbusRtuConfig(_ModbusCommon):
    protocol: Literal["modbus-rtu"] = Field(description="Modbus RTU over a serial line")
    connection: SerialConnection = Field(description="serial port of the RS-485/RS-232 line")


class ModbusTcpConfig(_ModbusCommon):
    protocol: Literal["modbus-tcp"] = Field(description="Modbus TCP")
    connection: TcpConnection = Field(description="indicator or gateway address")


WeighbridgeConfig = Annotated[
    YaohuaTf0Config | YaohuaTf1Config | ToledoConfig | SmaConfig | ModbusRtuConfig | ModbusTcpConfig,
    Field(discriminator="protocol"),
]
weighbridge_config_adapter: TypeAdapter[WeighbridgeConfig] = TypeAdapter(WeighbridgeConfig)


def parse_config(data: object) -> WeighbridgeConfig:
    """Validate a `weighbridge:` mapping; raises pydantic.ValidationError naming the bad keys."""
    return weighbridge_config_adapter.validate_python(data)
