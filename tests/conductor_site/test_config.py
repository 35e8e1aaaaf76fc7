"""The config file, the environment and `--api-key`: which wins, and what each key does."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from conductor_site.config import ConfigError, load_config
from tests.conductor_site.conftest import Serve, http_status
from tests.processes import CONDUCTOR, clean_env, free_port

FILE_KEY, ENV_KEY, FLAG_KEY = "file-key", "env-key", "flag-key"


def write_config(data_dir: Path, text: str) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "config.yaml"
    path.write_text(text)
    return path


def test_without_a_file_auth_is_off_and_the_defaults_apply(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})

    assert config.api_key == ""
    assert config.cors_origins == ()
    assert (config.host, config.port) == ("127.0.0.1", 14355)
    assert config.max_concurrent_root_tasks == 0
    assert config.path == tmp_path / "config.yaml"


def test_the_file_sets_every_key(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "api:\n"
        "  host: 0.0.0.0\n"
        "  port: 15000\n"
        "  auth_enabled: true\n"
        f"  api_key: {FILE_KEY}\n"
        "  cors_origins:\n"
        "    - http://localhost:3000\n"
        "    - https://app.example.com/\n"
        "max_concurrent_root_tasks: 3\n",
    )

    config = load_config(tmp_path, {})

    assert config.api_key == FILE_KEY
    assert (config.host, config.port) == ("0.0.0.0", 15000)
    assert config.cors_origins == ("http://localhost:3000", "https://app.example.com")
    assert config.max_concurrent_root_tasks == 3


def test_the_environment_beats_the_file(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        f"api:\n  auth_enabled: true\n  api_key: {FILE_KEY}\n"
        "  cors_origins: [http://file.example]\nmax_concurrent_root_tasks: 3\n",
    )
    env = {
        "CONDUCTOR_API_KEY": ENV_KEY,
        "CONDUCTOR_CORS_ORIGINS": "http://a.example, http://b.example",
        "CONDUCTOR_MAX_CONCURRENT_ROOT_TASKS": "7",
    }

    config = load_config(tmp_path, env)

    assert config.api_key == ENV_KEY
    assert config.cors_origins == ("http://a.example", "http://b.example")
    assert config.max_concurrent_root_tasks == 7


def test_the_environment_key_turns_auth_on_even_when_the_file_turns_it_off(
    tmp_path: Path,
) -> None:
    write_config(tmp_path, "api:\n  auth_enabled: false\n")

    assert load_config(tmp_path, {"CONDUCTOR_API_KEY": ENV_KEY}).api_key == ENV_KEY


def test_auth_enabled_without_a_key_warns_and_leaves_auth_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_config(tmp_path, "api:\n  auth_enabled: true\n")

    with caplog.at_level(logging.WARNING, logger="conductor.config"):
        config = load_config(tmp_path, {})

    assert config.api_key == ""
    warning = next(r for r in caplog.records if r.name == "conductor.config")
    assert warning.levelno == logging.WARNING
    assert "authentication is DISABLED" in warning.getMessage()


def test_auth_enabled_false_ignores_the_files_key(tmp_path: Path) -> None:
    write_config(tmp_path, f"api:\n  auth_enabled: false\n  api_key: {FILE_KEY}\n")

    assert load_config(tmp_path, {}).api_key == ""


def test_a_key_in_the_file_without_auth_enabled_still_protects(tmp_path: Path) -> None:
    write_config(tmp_path, f"api:\n  api_key: {FILE_KEY}\n")

    assert load_config(tmp_path, {}).api_key == FILE_KEY


def test_conductor_config_names_another_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.yaml"
    other.write_text("max_concurrent_root_tasks: 2\n")

    config = load_config(tmp_path / "data", {"CONDUCTOR_CONFIG": str(other)})

    assert (config.path, config.max_concurrent_root_tasks) == (other, 2)


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("api: [1, 2]\n", {}),
        ("api:\n  port: http\n", {}),
        ("api:\n  port: 70000\n", {}),
        ("api:\n  auth_enabled: maybe\n", {}),
        ("api:\n  cors_origins: {a: b}\n", {}),
        ("max_concurrent_root_tasks: -1\n", {}),
        ("max_concurrent_root_tasks: 1.5\n", {}),
        ("", {"CONDUCTOR_MAX_CONCURRENT_ROOT_TASKS": "many"}),
        ("api: {host: [unclosed\n", {}),
        ("- a list\n", {}),
    ],
)
def test_an_unusable_config_is_an_error_not_a_silent_default(
    tmp_path: Path, text: str, env: dict[str, str]
) -> None:
    write_config(tmp_path, text)

    with pytest.raises(ConfigError):
        load_config(tmp_path, env)


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, {"CONDUCTOR_CONFIG": str(tmp_path / "missing.yaml")})


def test_the_settings_expose_the_root_task_limit() -> None:
    from django.conf import settings

    assert settings.CONDUCTOR["MAX_CONCURRENT_ROOT_TASKS"] == 0


def test_serve_refuses_to_start_on_an_unusable_config_file(tmp_path: Path) -> None:
    write_config(tmp_path, "api:\n  port: lots\n")

    done = subprocess.run(
        [CONDUCTOR, "serve"],
        env=clean_env(CONDUCTOR_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "api.port must be a port number" in done.stderr


# The real `conductor serve`: the flag beats the environment, which beats the file.


def key_status(port: int, key: str) -> int:
    return http_status(port, "/api/v1/tasks", {"X-API-Key": key})[0]


def test_serve_takes_the_flag_over_the_environment_over_the_file(
    tmp_path: Path, serve: Serve
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    write_config(data_dir, f"api:\n  auth_enabled: true\n  api_key: {FILE_KEY}\n  port: {port}\n")

    flagged = serve(data_dir, port, "--api-key", FLAG_KEY, CONDUCTOR_API_KEY=ENV_KEY)
    statuses = {key: key_status(port, key) for key in (FLAG_KEY, ENV_KEY, FILE_KEY)}
    flagged.terminate()
    assert statuses == {FLAG_KEY: 200, ENV_KEY: 401, FILE_KEY: 401}

    from_env = serve(data_dir, port, CONDUCTOR_API_KEY=ENV_KEY)
    statuses = {key: key_status(port, key) for key in (ENV_KEY, FILE_KEY)}
    from_env.terminate()
    assert statuses == {ENV_KEY: 200, FILE_KEY: 401}

    # No flags at all: the key and the port come from the file.
    serve(data_dir, port)
    assert {key: key_status(port, key) for key in (FILE_KEY, "")} == {FILE_KEY: 200, "": 401}


def test_serve_root_names_the_data_dir(tmp_path: Path, serve: Serve) -> None:
    """`--root` is the contract's name for the server root: it beats CONDUCTOR_DATA_DIR."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    port = free_port()
    write_config(root, f"api:\n  api_key: {FILE_KEY}\n  port: {port}\n")

    serve(elsewhere, port, "--root", str(root))

    assert {key: key_status(port, key) for key in (FILE_KEY, "")} == {FILE_KEY: 200, "": 401}
    assert (root / "conductor.sqlite3").is_file()
    assert not elsewhere.exists()
