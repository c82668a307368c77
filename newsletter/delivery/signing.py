"""DKIM signing for the send engine: in this process, on threads, because OpenSSL frees the GIL.

Measured on the 2-core development container (cryptography 50, RSA-2048, load average ~5):
one thread made 2,000 signatures in 0.73 s, two threads 4,000 in 1.01 s, so the RSA operation
runs outside the GIL and a second core takes it. What still holds the GIL is the signer's
Python (its caches, SHA-256): ~0.1 ms beside the ~0.3 ms RSA operation for a 31 KB bench digest
(bench/dkim_sign.py). Tried again with that signer and dropped: one worker process
(``python -m`` a module importing only the signer) fed pieces of 50 over a pipe cut the sending
process's CPU from ~1,100 to ~480 us per message, but at 20,000 subscribers and load 6-8 it
made 676-771 msg/s end to end against 823-976 on threads, runs alternated (at 100,000, pipelined
pieces and 1 MB pipes: 885 and 1,223 against 1,127 and 1,085): on two shared cores the worker
is one more process waiting for a CPU. For more cores, run more sender processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from newsletter.delivery.dkim import DkimSigner, load_signer

CHUNK = 50  # messages per hand-off to a signing thread


class SigningPool:
    """Signs batches of messages on ``threads`` threads, in order; counts what it signed."""

    def __init__(
        self,
        key_file: Path,
        selector: str,
        domain: str,
        *,
        threads: int | None = None,
        ed25519_key_file: Path | None = None,
        ed25519_selector: str | None = None,
    ) -> None:
        # The key is parsed once here, so a bad key is refused at start-up.
        self.signer: DkimSigner = load_signer(
            key_file,
            selector,
            domain,
            ed25519_key_file=ed25519_key_file,
            ed25519_selector=ed25519_selector,
        )
        self.threads = threads or max(1, os.cpu_count() or 1)
        self._executor: ThreadPoolExecutor | None = None
        self.signed = 0
        self.seconds = 0.0  # wall time during which at least one sign_many was running
        self._active = 0
        self._busy_since = 0.0

    def _sign_chunk(self, messages: list[bytes]) -> list[bytes]:
        sign = self.signer.sign
        return [sign(message) for message in messages]

    async def sign_many(self, messages: list[bytes]) -> list[bytes]:
        """The signed messages, in the order given."""
        if not messages:
            return []
        if self._active == 0:
            self._busy_since = time.perf_counter()
        self._active += 1
        try:
            return await self._sign_many(messages)
        finally:
            self._active -= 1
            if self._active == 0:
                self.seconds += time.perf_counter() - self._busy_since

    async def _sign_many(self, messages: list[bytes]) -> list[bytes]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="newsletter-dkim")
        loop = asyncio.get_running_loop()
        chunks = [messages[i : i + CHUNK] for i in range(0, len(messages), CHUNK)]
        signed = await asyncio.gather(
            *(loop.run_in_executor(self._executor, self._sign_chunk, chunk) for chunk in chunks)
        )
        self.signed += len(messages)
        return [message for chunk in signed for message in chunk]

    def close(self) -> None:
        """Stop the signing threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
