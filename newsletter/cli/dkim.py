"""``newsletter dkim``: make a signing key and print the DNS records that publish the keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console
from newsletter.errors import ConfigError

app = typer.Typer(
    help="DKIM keys: generate one, print the DNS records to publish.", no_args_is_help=True
)


@app.command("keygen")
def keygen(
    path: Annotated[Path, typer.Argument(help="Where to write the new PEM private key.")],
    ed25519: Annotated[
        bool, typer.Option("--ed25519", help="An Ed25519 key (the optional second signature).")
    ] = False,
    bits: Annotated[int, typer.Option(help="RSA key size.")] = 2048,
) -> None:
    """Write a new private key (readable by its owner only) and print its DNS TXT record."""
    from newsletter.delivery.dkim import dns_record, new_private_key

    try:
        pem = new_private_key("ed25519" if ed25519 else "rsa", bits=bits)
    except ValueError as exc:
        raise ConfigError(f"--bits: {exc}") from None
    try:
        # O_EXCL: an existing key is never overwritten (its record may be published already)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; not overwriting a key") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
    with os.fdopen(handle, "wb") as out:
        out.write(pem)
    console.print(f"wrote {path}")
    console.print(f"TXT record: {dns_record(pem).decode()}")


@app.command("record")
def record() -> None:
    """Print the TXT records to publish for the configured keys (NEWSLETTER_DKIM_*)."""
    from newsletter.config import load_settings
    from newsletter.delivery.dkim import dns_record

    dkim = load_settings().dkim
    if dkim is None:
        raise ConfigError(
            "NEWSLETTER_DKIM_KEY_FILE: DKIM is not configured (set it, _SELECTOR and _DOMAIN)"
        )
    keys = [("NEWSLETTER_DKIM_KEY_FILE", dkim.key_file, dkim.selector)]
    if dkim.ed25519_key_file is not None and dkim.ed25519_selector is not None:
        keys.append(
            ("NEWSLETTER_DKIM_ED25519_KEY_FILE", dkim.ed25519_key_file, dkim.ed25519_selector)
        )
    for setting, path, selector in keys:
        try:
            value = dns_record(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"{setting}: {path}: {exc}") from None
        # A TXT string holds at most 255 bytes: a 2048-bit RSA record is several (RFC 1035).
        text = value.decode()
        strings = " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
        console.print(f"{selector}._domainkey.{dkim.domain}. IN TXT {strings}")
