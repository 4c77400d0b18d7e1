"""Protocol names (as in the config and the CLI) → parser and test encoder."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.weighbridge import sma, toledo, yaohua_tf0, yaohua_tf1
from edge.weighbridge.config import (
    ModbusRtuConfig,
    ModbusTcpConfig,
    SmaConfig,
    ToledoConfig,
    WeighbridgeConfig,
    YaohuaTf0Config,
    YaohuaTf1Config,
)
from edge.weighbridge.framing import FrameParser
from edge.weighbridge.modbus import ModbusSource
from edge.weighbridge.reading import ParserStats, Reading
from edge.weighbridge.transport import READ_TIMEOUT_S, make_transport

STREAM_PROTOCOLS = ("yaohua-tf0", "yaohua-tf1", "toledo", "sma")


def make_parser(config: YaohuaTf0Config | YaohuaTf1Config | ToledoConfig | SmaConfig) -> FrameParser:
    if isinstance(config, YaohuaTf0Config):
        return yaohua_tf0.YaohuaTf0Parser(unit=config.unit)
    if isinstance(config, YaohuaTf1Config):
        return yaohua_tf1.YaohuaTf1Parser(unit=config.unit)
    if isinstance(config, ToledoConfig):
        return toledo.ToledoParser(checksum=config.checksum)
    return sma.SmaParser()


class StreamSource:
    """A byte-stream indicator: transport + incremental parser (+ polling for SMA)."""

    def __init__(
        self,
        config: YaohuaTf0Config | YaohuaTf1Config | ToledoConfig | SmaConfig,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.parser = make_parser(config)
        self.stats: ParserStats = self.parser.stats
        self._poll_s = config.poll_interval_s if isinstance(config, SmaConfig) else None
        # A polled indicator only talks when asked: never wait for bytes longer than one poll period.
        timeout = min(READ_TIMEOUT_S, self._poll_s) if self._poll_s else READ_TIMEOUT_S
        self._transport = make_transport(config.connection, timeout)
        self._clock = clock
        self._next_poll = 0.0

    def describe(self) -> str:
        return f"{self.config.protocol} on {self._transport.describe()}"

    def open(self) -> None:
        self.parser.reset()
        self._transport.open()
        self._next_poll = 0.0

    def read(self) -> list[Reading]:
        if self._poll_s is not None:
            now = self._clock()
            if now >= self._next_poll:
                self._transport.write(sma.REQUEST_WEIGHT)
                self._next_poll = now + self._poll_s
        return self.parser.feed(self._transport.read())

    def close(self) -> None:
        self._transport.close()


Source = StreamSource | ModbusSource


def make_source(config: WeighbridgeConfig) -> Source:
    if isinstance(config, ModbusRtuConfig | ModbusTcpConfig):
        return ModbusSource(config)
    return StreamSource(config)
