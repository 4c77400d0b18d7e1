"""Weighbridge indicators: protocol parsers, transports, the reader thread and stable-weight capture.

Protocols (config `protocol:` and CLI `--protocol`): yaohua-tf0, yaohua-tf1, toledo, sma, modbus-rtu,
modbus-tcp. Frame layouts and their sources: docs/weighbridge.md.
"""

from edge.weighbridge.config import PROTOCOLS, StableConfig, WeighbridgeConfig, parse_config
from edge.weighbridge.reader import TimedEvent, TimedReading, WeighbridgeReader
from edge.weighbridge.reading import ParserStats, Reading
from edge.weighbridge.stable import StableWeighing, StableWeight, WeightFlag

__all__ = [
    "PROTOCOLS",
    "ParserStats",
    "Reading",
    "StableConfig",
    "StableWeighing",
    "StableWeight",
    "TimedEvent",
    "TimedReading",
    "WeighbridgeConfig",
    "WeighbridgeReader",
    "WeightFlag",
    "parse_config",
]
