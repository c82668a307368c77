"""A DKIM signing worker process: ``python -m newsletter.delivery.signworker``.

Started by ``SigningPool`` with a light entry point (this module imports dkimpy and
``cryptography``, nothing of the CLI). Frames on stdin and stdout are a 4-byte big-endian
length and that many bytes. The first frame on stdin is the key setup (JSON: the PEM keys,
selector and domain); then each request is one frame holding a batch of messages (a 4-byte
count, then each message as a frame), answered by one frame holding the signed messages in
the same layout, or an empty frame and the error on stderr when the batch cannot be signed.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import BinaryIO

from newsletter.delivery.dkim import DkimSigner

_LENGTH = struct.Struct(">I")


def pack(messages: list[bytes]) -> bytes:
    """A batch of messages as one frame body."""
    parts = [_LENGTH.pack(len(messages))]
    for message in messages:
        parts.append(_LENGTH.pack(len(message)))
        parts.append(message)
    return b"".join(parts)


def unpack(body: bytes) -> list[bytes]:
    """The messages of a frame body made by ``pack``."""
    (count,) = _LENGTH.unpack_from(body, 0)
    offset, messages = 4, []
    for _ in range(count):
        (size,) = _LENGTH.unpack_from(body, offset)
        offset += 4
        messages.append(body[offset : offset + size])
        offset += size
    return messages


def _read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = _LENGTH.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def _write_frame(stream: BinaryIO, body: bytes) -> None:
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def main() -> int:
    """Serve signing requests until stdin closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    setup_frame = _read_frame(source)
    if setup_frame is None:
        return 1
    setup = json.loads(setup_frame)
    ed25519 = setup.get("ed25519_pem")
    signer = DkimSigner(
        setup["pem"].encode("ascii"),
        setup["selector"],
        setup["domain"],
        ed25519_pem=ed25519.encode("ascii") if ed25519 else None,
        ed25519_selector=setup.get("ed25519_selector"),
    )
    while (frame := _read_frame(source)) is not None:
        try:
            signed = [signer.sign(message) for message in unpack(frame)]
        except (ValueError, struct.error) as exc:
            print(f"signing failed: {exc}", file=sys.stderr, flush=True)
            _write_frame(sink, b"")
            continue
        _write_frame(sink, pack(signed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
