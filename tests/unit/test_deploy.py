"""The example environment file in deploy/ names only real settings."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import SettingsInput

ROOT = Path(__file__).resolve().parents[2]


DEPLOY = ROOT / "deploy"


def test_environment_file_names_only_real_settings() -> None:
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "newsletter.env").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names
    for name in names:
        assert name == "NEWSLETTER_CONFIG" or name.removeprefix("NEWSLETTER_").lower() in (
            SettingsInput.model_fields
        ), name
