"""Every setting documented once; database URLs masked except for the password."""

from __future__ import annotations

from newsletter.config import SettingsInput
from newsletter.operations.configfile import SETTING_HELP, config_template, mask_url


def test_every_setting_is_documented_once() -> None:
    documented = [name for group in SETTING_HELP.values() for name in group]
    assert sorted(documented) == sorted(SettingsInput.model_fields)
    assert len(documented) == len(set(documented))


def test_mask_url_keeps_everything_but_the_password() -> None:
    assert (
        mask_url("smtps://u:p%40ss@mx.example.org:465") == "smtps://u:********@mx.example.org:465"
    )
    assert mask_url("sqlite:///var/lib/newsletter.db") == "sqlite:///var/lib/newsletter.db"
    assert "hunter2" not in config_template("hunter2-but-longer-than-16").replace(
        'secret_key = "hunter2-but-longer-than-16"', ""
    )
