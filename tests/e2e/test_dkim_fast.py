"""The OpenSSL signing path: byte-identical to dkimpy, verified by dkimpy and by opendkim."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.delivery.dkim import DkimSigner
from tests.dkimkeys import (
    DOMAIN,
    SELECTOR,
    personalised_digests,
    sample_digest,
)
from tests.dnsstub import DnsStub, opendkim_testmsg, opendkim_verify

# -- an independent verifier ---------------------------------------------------------------


@pytest.fixture
def opendkim(record: bytes, tmp_path: Path) -> Iterator[tuple[DnsStub, Path]]:
    if opendkim_testmsg() is None:
        if os.environ.get("CI"):
            pytest.fail("opendkim-testmsg is required under CI (make system-deps)")
        pytest.skip("opendkim-testmsg is not installed (apt-get install opendkim-tools)")
    with DnsStub({f"{SELECTOR}._domainkey.{DOMAIN}": record}) as stub:
        probe = opendkim_verify(b"From: a@example.org\r\n\r\nx\r\n", stub, tmp_path)
        if b"unshare" in probe.stderr or b"mount" in probe.stderr:
            problem = probe.stderr.decode(errors="replace").strip()
            if os.environ.get("CI"):
                pytest.fail(f"cannot give opendkim-testmsg a private resolv.conf: {problem}")
            pytest.skip(f"cannot give opendkim-testmsg a private resolv.conf: {problem}")
        yield stub, tmp_path


def test_opendkim_verifies_our_signatures(
    signer: DkimSigner, opendkim: tuple[DnsStub, Path]
) -> None:
    stub, workdir = opendkim
    for message in (sample_digest(), sample_digest(".dots\n  and  spaces \n" * 200)):
        result = opendkim_verify(signer.sign(message), stub, workdir)
        assert result.returncode == 0, result.stderr
    assert stub.queries and set(stub.queries) == {f"{SELECTOR}._domainkey.{DOMAIN}"}


def test_opendkim_verifies_real_digests_signed_through_the_caches(
    signer: DkimSigner, opendkim: tuple[DnsStub, Path]
) -> None:
    """One signer, many recipients of two digests: later messages reuse the cached lines and
    fields of earlier ones, and each must still verify on its own."""
    stub, workdir = opendkim
    plain = signer.plain
    for message in personalised_digests(8):
        result = opendkim_verify(signer.sign(message), stub, workdir)
        assert result.returncode == 0, result.stderr
    assert signer.plain == plain


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (b"Hello, caf", b"Hallo, caf", b"Bad signature"),
        (b"\r\n\r\n", b"\r\nReply-To: thief@example.net\r\n\r\n", b"Bad signature"),
        (b"\r\n\r\n", b"\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n", b"Bad sig"),
        (b"\r\n\r\n", b"\r\nList-Unsubscribe-Post: x\r\n\r\n", b"Bad signature"),
        # opendkim refuses a second From outright, before looking at the signature
        (b"\r\n\r\n", b"\r\nFrom: ceo@example.org\r\n\r\n", b"Syntax error"),
    ],
)
def test_opendkim_rejects_tampering_and_injected_headers(
    signer: DkimSigner, opendkim: tuple[DnsStub, Path], old: bytes, new: bytes, error: bytes
) -> None:
    stub, workdir = opendkim
    signed = signer.sign(sample_digest())
    assert opendkim_verify(signed, stub, workdir).returncode == 0
    result = opendkim_verify(signed.replace(old, new, 1), stub, workdir)
    assert result.returncode != 0
    assert error in result.stderr
