"""MQTT connection settings and client construction, shared by edge and central."""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from lanewatch.config import Section, resolve_path


class TlsSettings(Section):
    ca_file: Path = Field(description="CA certificate that signed the broker's certificate (PEM)")
    cert_file: Path | None = Field(None, description="client certificate (PEM), when the broker wants one")
    key_file: Path | None = Field(None, description="client private key (PEM)")

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)


class MqttSettings(Section):
    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port (8883 for TLS)")
    username: str | None = Field(None, description="account name on the broker")
    password: SecretStr | None = Field(None, description="account password")
    password_file: Path | None = Field(None, description="file holding the account password (what "
                                       "`provision-edge` writes; 0640 root:lanewatch), instead of `password`")
    tls: TlsSettings | None = Field(None, description="TLS settings; leave out only on a loopback demo broker")
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keep-alive interval")
    reconnect_min_s: float = Field(1.0, ge=1, description="first reconnect delay (whole seconds)")
    reconnect_max_s: float = Field(60.0, ge=1, description="cap of the exponential reconnect delay (whole seconds)")

    @field_validator("password_file")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)

    @model_validator(mode="after")
    def _password_from_file(self) -> MqttSettings:
        # Read once, at load: a missing or unreadable file is a config error (exit 78), not a crash later.
        if self.password_file is None:
            return self
        if self.password is not None:
            raise ValueError("give password or password_file, not both")
        try:
            text = self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read password_file {self.password_file}: {exc.strerror}") from None
        if not text:
            raise ValueError(f"password_file {self.password_file} is empty")
        self.password = SecretStr(text)
        return self

    @model_validator(mode="after")
    def _delays_in_order(self) -> MqttSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s "
                             f"({self.reconnect_min_s})")
        return self


def make_client(settings: MqttSettings, client_id: str, *, protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
                persistent_session: bool = False) -> mqtt.Client:
    """A paho client (MQTT 5 unless asked otherwise, callback API v2) configured from settings; not yet
    connected. MQTT 3.1.1 fixes the session kind here (`persistent_session`); MQTT 5 in `connect_async`."""
    clean_session = None if protocol == mqtt.MQTTv5 else not persistent_session
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                         clean_session=clean_session)
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls is not None:
        client.tls_set(
            ca_certs=str(settings.tls.ca_file),
            certfile=str(settings.tls.cert_file) if settings.tls.cert_file else None,
            keyfile=str(settings.tls.key_file) if settings.tls.key_file else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.reconnect_delay_set(min_delay=round(settings.reconnect_min_s), max_delay=round(settings.reconnect_max_s))
    return client


def connect_async(client: mqtt.Client, settings: MqttSettings, *, persistent_session: bool = False) -> None:
    """Start connecting in the background; paho's loop then reconnects with capped backoff by itself.

    A persistent session (clean start off, expiry one week — longer than any maintenance window)
    makes the broker keep QoS 1 messages for a subscriber while it is away. An MQTT 3.1.1 client's
    session kind was set by `make_client`; its persistent session lasts as long as the broker keeps it.
    """
    if client.protocol != mqtt.MQTTv5:
        client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        return
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 7 * 24 * 3600 if persistent_session else 0
    client.connect_async(
        settings.host, settings.port, keepalive=settings.keepalive_s,
        clean_start=not persistent_session, properties=props,
    )
