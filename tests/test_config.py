"""Settings: environment variables, the TOML file, and the production guards."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.config import Settings, load_settings


@pytest.mark.parametrize("value", ["oro,compute", " oro , compute ", '["oro", "compute"]'])
def test_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PROCTOR_SURFACES", value)
    monkeypatch.setenv("PROCTOR_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
    settings = Settings()
    assert settings.surfaces == ["oro", "compute"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_toml_file_and_environment_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "proctor.toml"
    config.write_text('registry = "open"\nrate_limit_global = "5/minute"\nadmin_hotkeys = ["x"]\n')
    monkeypatch.setenv("PROCTOR_RATE_LIMIT_GLOBAL", "7/minute")
    monkeypatch.delenv("PROCTOR_CONFIG", raising=False)
    settings = load_settings(config)
    assert settings.rate_limit_global == "7/minute", "the environment wins over the file"
    assert settings.admin_hotkeys == ["x"]
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")


def test_production_refuses_placeholder_secrets_and_open_registry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(env="production", secret_key="changeme", registry=str(tmp_path / "r.yaml"))
    with pytest.raises(ValueError, match="open"):
        Settings(env="production", secret_key="x" * 40, registry="open")
    ok = Settings(env="production", secret_key="x" * 40, registry=str(tmp_path / "r.yaml"))
    assert ok.effective_secret_key == "x" * 40


def test_dev_secret_is_created_once_per_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).effective_secret_key
    assert len(first) == 64 and Settings(data_dir=tmp_path).effective_secret_key == first
    assert (tmp_path / "dev-secret.key").stat().st_mode & 0o777 == 0o600


def test_a_malformed_rate_limit_stops_start_up() -> None:
    with pytest.raises(ValueError, match="rate_limit_submit"):
        Settings(rate_limit_submit="once a fortnight-ish")
    with pytest.raises(ValueError, match="compute_rate_limit_job_ops"):
        Settings(compute_rate_limit_job_ops="lots")
