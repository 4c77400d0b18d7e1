"""Loading YAML configs into pydantic models, with errors that name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file that cannot be used; the message lists every problem with its key path."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        got = err.get("input")
        got_text = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        lines.append(f"  {_key_path(loc)}: {err['msg']}{got_text}")
    return "\n".join(lines)


def load_config(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    # Relative paths inside a config are relative to the config file, not to the working directory.
    try:
        return model.model_validate(data, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        raise ConfigError(format_errors(path, exc)) from None


def resolve_path(value: Path, info) -> Path:  # noqa: ANN001 - pydantic ValidationInfo
    """Field validator helper: make `value` absolute against the config file's folder."""
    base = (info.context or {}).get("base_dir") if info is not None else None
    value = Path(value).expanduser()
    return value if value.is_absolute() or base is None else (Path(base) / value)
