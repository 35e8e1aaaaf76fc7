"""The config file and how it combines with the environment and the command line.

The file is `<data dir>/config.yaml`, or the one `CONDUCTOR_CONFIG` names:

    api:
      host: 127.0.0.1
      port: 14355
      auth_enabled: true
      api_key: "your-secret-key"
      cors_origins: [http://localhost:3000]
    max_concurrent_root_tasks: 4

A flag beats the environment, which beats the file: `conductor serve --api-key` writes the
flag into `CONDUCTOR_API_KEY` before the settings are read, so the settings only have to
prefer the environment to the file. This module reads no Django settings: the CLI uses it
before Django is set up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("conductor.config")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 14355


class ConfigError(Exception):
    """The config file exists but cannot be used: better to stop than to run without auth."""


@dataclass(frozen=True)
class Config:
    path: Path
    api_key: str = ""
    cors_origins: tuple[str, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_concurrent_root_tasks: int = 0


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where Conductor keeps its database, task folders, audit log and config file."""
    return Path(environ.get("CONDUCTOR_DATA_DIR", "~/.conductor")).expanduser().resolve()


def config_path(data_dir: Path, environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("CONDUCTOR_CONFIG") or data_dir / "config.yaml").expanduser()


def read_config_file(path: Path, required: bool = False) -> dict[str, Any]:
    """The file's mapping, `{}` when there is no file (an error if `required`)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_config(data_dir: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """The file, then the environment over it."""
    path, data = _config_file(data_dir, environ)
    api = _section(data, "api", path)
    origins = environ.get("CONDUCTOR_CORS_ORIGINS")
    return Config(
        path=path,
        api_key=resolve_api_key(api, environ, path),
        cors_origins=_split_origins(origins) if origins is not None else _origins(api, path),
        host=_text(api, "host", path) or DEFAULT_HOST,
        port=_port(api, path),
        max_concurrent_root_tasks=_root_task_limit(data, environ, path),
    )


def resolve_api_key(api: Mapping[str, Any], environ: Mapping[str, str], path: Path) -> str:
    """`CONDUCTOR_API_KEY` (which `--api-key` sets), else the file's key.

    The file's key counts unless `auth_enabled: false` says otherwise; `auth_enabled: true`
    without a key logs a warning and leaves auth off, as the contract says.
    """
    if key := environ.get("CONDUCTOR_API_KEY", ""):
        return key
    enabled = api.get("auth_enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ConfigError(f"{path}: api.auth_enabled must be true or false")
    key = _text(api, "api_key", path)
    if enabled is False:
        return ""
    if enabled and not key:
        log.warning(
            "%s: api.auth_enabled is true but no api.api_key is set: authentication is "
            "DISABLED. Set api.api_key, CONDUCTOR_API_KEY or --api-key.",
            path,
        )
    return key


def listen_address(data_dir: Path, environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """`api.host` and `api.port` from the file, for `conductor serve` without flags."""
    path, data = _config_file(data_dir, environ)
    api = _section(data, "api", path)
    return _text(api, "host", path) or DEFAULT_HOST, _port(api, path)


def _config_file(data_dir: Path, environ: Mapping[str, str]) -> tuple[Path, dict[str, Any]]:
    """A file named by `CONDUCTOR_CONFIG` must exist; the default one need not."""
    path = config_path(data_dir, environ)
    return path, read_config_file(path, required=bool(environ.get("CONDUCTOR_CONFIG")))


def _section(data: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {name} must be a mapping")
    return section


def _text(section: Mapping[str, Any], key: str, path: Path) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{path}: api.{key} must be a string")
    return str(value).strip()


def _port(api: Mapping[str, Any], path: Path) -> int:
    port = api.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{path}: api.port must be a port number (1-65535)")
    return port


def _origins(api: Mapping[str, Any], path: Path) -> tuple[str, ...]:
    origins = api.get("cors_origins") or []
    if isinstance(origins, str):
        return _split_origins(origins)
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError(f"{path}: api.cors_origins must be a list of origins")
    return tuple(o.strip().rstrip("/") for o in origins if o.strip())


def _split_origins(value: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def _root_task_limit(data: Mapping[str, Any], environ: Mapping[str, str], path: Path) -> int:
    raw: Any = environ.get("CONDUCTOR_MAX_CONCURRENT_ROOT_TASKS")
    where = "CONDUCTOR_MAX_CONCURRENT_ROOT_TASKS"
    if raw is None:
        raw, where = data.get("max_concurrent_root_tasks", 0), f"{path}: max_concurrent_root_tasks"
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise ConfigError(f"{where} must be a whole number (0 = unlimited)")
