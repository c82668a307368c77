"""Time DKIM signing alone on real digest messages (issue 12).

Captures the messages of a small `newsletter bench` run with an aiosmtpd server on loopback,
signs them with ``DkimSigner`` (the cached path) and on the plain path built from dkimpy's
functions, checks both give the same bytes, and reports the CPU per message of each and of the
RSA operation alone.

    .venv/bin/python bench/dkim_sign.py --subscribers 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as Server
from aiosmtpd.smtp import Envelope, Session
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.delivery.dkim import _PKCS1, _PREHASHED, DkimSigner, _load_key
from newsletter.devtools.bench.run import _generate_key, run_bench


class _Keep:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Server, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content
        assert isinstance(data, bytes)
        self.messages.append(data)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def capture(subscribers: int) -> list[bytes]:
    """The unsigned messages of one small bench run, as the sink received them."""
    keep = _Keep()
    port = _free_port()
    controller = Controller(keep, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        run_bench(subscribers=subscribers, smtp=f"127.0.0.1:{port}")
    finally:
        controller.stop()
    return keep.messages


def _cpu(step: object, messages: list[bytes], rounds: int) -> float:
    """Best CPU microseconds per message of ``step(message)`` over ``rounds`` passes."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for message in messages:
            step(message)  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best / len(messages) * 1e6


def main() -> None:
    """Capture, sign, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    messages = capture(args.subscribers)
    with tempfile.TemporaryDirectory() as folder:
        pem = Path(_generate_key(Path(folder))).read_bytes()
    signer = DkimSigner(pem, "bench", "news.example.org")
    plain = _PlainSigner(pem, "bench", "news.example.org")
    sizes = sorted(len(m) for m in messages)
    print(f"{len(messages)} messages, median {sizes[len(sizes) // 2]} bytes")
    stamp = 1_800_000_000
    for message in messages:
        assert signer.sign(message, timestamp=stamp) == plain.sign(message, timestamp=stamp)
    assert signer.plain == 0, "real digests should all take the cached path"
    rounds = args.rounds
    fast = _cpu(lambda m: signer.sign(m, timestamp=stamp), messages, rounds)
    slow = _cpu(lambda m: plain.sign(m, timestamp=stamp), messages, rounds)
    key = _load_key(pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    digest = b"\x00" * 32
    alone = _cpu(lambda m: key.sign(digest, _PKCS1, _PREHASHED), messages, rounds)
    print(f"CPU per message: cached path {fast:.0f} us, plain (dkimpy's functions) {slow:.0f} us")
    print(f"  of which the RSA operation alone: {alone:.0f} us")


class _PlainSigner(DkimSigner):
    """Every message on the plain path: dkimpy's parsing and canonicalisation, no caches."""

    def _prepare(self, message: bytes) -> None:
        return None


if __name__ == "__main__":
    main()
