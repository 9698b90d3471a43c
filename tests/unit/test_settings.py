"""Settings: unknown keys are errors, and an error never prints a secret (review finding 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from examgate.core.settings import SettingsError, load_settings

SECRET = "hunter2-very-secret-value"


def test_a_mistyped_secret_variable_is_refused_without_its_value(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMGATE_REDIS__PASSWROD", SECRET)  # typo of PASSWORD
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "passwrod" in str(err.value).lower()
    assert SECRET not in str(err.value)
    assert SECRET not in repr(err.value) and err.value.__cause__ is None


def test_a_bad_value_in_a_file_is_refused_without_its_value(tmp_path: Path) -> None:
    cfg = tmp_path / "examgate.yaml"
    cfg.write_text(f"object_store:\n  secret_key: [{SECRET}]\n  secure: {SECRET}\n")
    with pytest.raises(SettingsError) as err:
        load_settings(cfg)
    assert "object_store.secure" in str(err.value)
    assert SECRET not in str(err.value)


def test_relative_paths_are_taken_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXAMGATE_DATA__LFW_DIR", "faces/lfw")
    s = load_settings()
    assert s.data.lfw_dir == tmp_path / "faces" / "lfw"
    assert s.stack.state_dir == tmp_path / ".state"


def test_production_refuses_the_public_development_secrets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The template key and object-store secret have public defaults: fine on a laptop,
    refused where real students' faces are kept (review finding 11)."""
    monkeypatch.setenv("EXAMGATE_ENVIRONMENT", "production")
    with pytest.raises(SettingsError) as err:
        load_settings()
    for name in ("template_key", "object_store.secret_key", "mlflow.signing_key",
                 "mlflow.trusted_keys"):
        assert name in str(err.value)
    monkeypatch.setenv("EXAMGATE_TEMPLATE_KEY", "a" * 43 + "=")
    monkeypatch.setenv("EXAMGATE_OBJECT_STORE__SECRET_KEY", "a-real-secret-from-a-vault")
    monkeypatch.setenv("EXAMGATE_MLFLOW__SIGNING_KEY", "")  # a server: it never signs
    monkeypatch.setenv("EXAMGATE_MLFLOW__TRUSTED_KEYS", f'["{"b" * 43}="]')
    s = load_settings()
    assert s.environment == "production" and s.mlflow.signing_key is None


def test_a_placeholder_trusted_key_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMGATE_MLFLOW__TRUSTED_KEYS", '["REPLACE-ME"]')
    with pytest.raises(SettingsError, match="trusted_keys"):
        load_settings()


def test_development_keeps_working_with_the_defaults() -> None:
    assert load_settings().environment == "development"
