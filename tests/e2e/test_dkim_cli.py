"""``newsletter dkim keygen`` and ``dkim record`` in real processes: the key they make signs
messages that verify against the record they print."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import dkim

from newsletter.delivery.dkim import DkimSigner
from tests.cli_helpers import cli
from tests.dkimkeys import sample_digest


def _zone_value(line: str) -> bytes:
    """The TXT value of a zone-file line: its quoted strings joined (RFC 1035)."""
    return "".join(re.findall(r'"([^"]*)"', line)).encode()


def test_keygen_and_record_publish_keys_that_verify(sqlite_url: str, tmp_path: Path) -> None:
    rsa_file, ed_file = tmp_path / "dkim.pem", tmp_path / "dkim-ed.pem"
    made = cli(sqlite_url, "dkim", "keygen", str(rsa_file))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(rsa_file.stat().st_mode) == 0o600
    assert cli(sqlite_url, "dkim", "keygen", "--ed25519", str(ed_file)).returncode == 0
    shown = cli(
        sqlite_url,
        "dkim",
        "record",
        NEWSLETTER_DKIM_KEY_FILE=str(rsa_file),
        NEWSLETTER_DKIM_SELECTOR="news",
        NEWSLETTER_DKIM_DOMAIN="example.org",
        NEWSLETTER_DKIM_ED25519_KEY_FILE=str(ed_file),
        NEWSLETTER_DKIM_ED25519_SELECTOR="ed",
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "news._domainkey.example.org.",
        "ed._domainkey.example.org.",
    ]
    assert all(len(s) <= 255 for line in lines for s in re.findall(r'"([^"]*)"', line))
    records = {line.split()[0].encode(): _zone_value(line) for line in lines}
    signer = DkimSigner(
        rsa_file.read_bytes(),
        "news",
        "example.org",
        ed25519_pem=ed_file.read_bytes(),
        ed25519_selector="ed",
    )
    checker = dkim.DKIM(signer.sign(sample_digest()))
    for index in (0, 1):
        assert checker.verify(idx=index, dnsfunc=lambda name, timeout=5: records[name])


def test_keygen_never_overwrites_and_record_needs_a_key(sqlite_url: str, tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    key.write_bytes(b"the published key")
    again = cli(sqlite_url, "dkim", "keygen", str(key))
    assert again.returncode == 1 and key.read_bytes() == b"the published key"
    assert again.stderr.strip() == f"error: {key}: already exists; not overwriting a key"
    weak = cli(sqlite_url, "dkim", "keygen", "--bits", "1024", str(tmp_path / "weak.pem"))
    assert weak.returncode == 1 and "at least 2048 bits" in weak.stderr
    assert not (tmp_path / "weak.pem").exists()
    missing = cli(sqlite_url, "dkim", "record")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: NEWSLETTER_DKIM_KEY_FILE: DKIM is not configured")
    assert "Traceback" not in again.stderr + weak.stderr + missing.stderr
