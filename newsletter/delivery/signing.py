"""DKIM signing in worker processes: pure-Python RSA costs ~8 ms and holds the GIL."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from newsletter.delivery.dkim import DkimSigner, load_signer

_SIGNER: DkimSigner | None = None
CHUNK = 25


def _init(key_file: str, selector: str, domain: str) -> None:  # pragma: no cover - child
    global _SIGNER
    _SIGNER = load_signer(Path(key_file), selector, domain)


def _sign_chunk(messages: list[bytes]) -> list[bytes]:  # pragma: no cover - child
    if _SIGNER is None:
        raise RuntimeError("signer not initialised")
    return [_SIGNER.sign(message) for message in messages]


class SigningPool:
    """Signs batches of messages in `processes` worker processes, in order."""

    def __init__(
        self, key_file: Path, selector: str, domain: str, *, processes: int | None = None
    ) -> None:
        # Load once here so a bad key is refused at start-up, not in a worker.
        self.signer = load_signer(key_file, selector, domain)
        self._args = (str(key_file), selector, domain)
        self.processes = processes or max(1, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    async def sign_many(self, messages: list[bytes]) -> list[bytes]:
        """The signed messages, in the order given."""
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=self._args,
            )
        loop = asyncio.get_running_loop()
        chunks = [messages[i : i + CHUNK] for i in range(0, len(messages), CHUNK)]
        signed = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _sign_chunk, chunk) for chunk in chunks)
        )
        return [message for chunk in signed for message in chunk]

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
