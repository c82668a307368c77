"""DKIM signing for the send engine: in worker processes (default) or on threads.

Measured on the 2-core development container (cryptography 50, RSA-2048): signing a 12 KB
digest costs ~0.47 ms of CPU, 0.28 ms of it OpenSSL's RSA, which runs outside the GIL; the
header and body canonicalisation (~0.2 ms) holds it. On threads that share the sending
process's GIL with the event loop, the claimer and the recorder, a signed message cost
~1.2 ms of the process's CPU (0.36 ms unsigned): every time the RSA operation hands the GIL
back, the thread waits for the loop to release it again. Worker processes
(``python -m newsletter.delivery.signworker``: dkimpy and cryptography only, ~0.2 s to start)
keep the sending process's GIL for sending; a batch of 50 messages travels over a pipe each
way (a memory copy). ``threads=N`` keeps the in-process path (tests use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from newsletter.delivery.dkim import DkimSigner, load_signer
from newsletter.delivery.signworker import pack, unpack

_LENGTH = struct.Struct(">I")

CHUNK = 50  # messages per hand-off to a signing thread or process
SMALL = 10  # fewer messages (a confirmation, a test send) are signed on a thread: no processes


class SigningPool:
    """Signs batches of messages on ``threads`` threads, in order; counts what it signed."""

    def __init__(
        self,
        key_file: Path,
        selector: str,
        domain: str,
        *,
        threads: int | None = None,
        processes: int | None = None,
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
        cores = max(1, os.cpu_count() or 1)
        self.threads = threads or cores
        # Worker processes unless threads were asked for (or processes=0).
        self.processes = 0 if threads is not None else (cores if processes is None else processes)
        self._setup = json.dumps(
            {
                "pem": key_file.read_text("ascii"),
                "selector": selector,
                "domain": domain,
                "ed25519_pem": ed25519_key_file.read_text("ascii") if ed25519_key_file else None,
                "ed25519_selector": ed25519_selector,
            }
        ).encode("ascii")
        self._workers: list[asyncio.subprocess.Process] = []
        self._idle: asyncio.Queue[asyncio.subprocess.Process] | None = None
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

    async def _start_workers(self) -> asyncio.Queue[asyncio.subprocess.Process]:
        idle: asyncio.Queue[asyncio.subprocess.Process] = asyncio.Queue()
        for _ in range(self.processes):
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "newsletter.delivery.signworker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 24,
            )
            assert worker.stdin is not None
            worker.stdin.write(_LENGTH.pack(len(self._setup)) + self._setup)
            self._workers.append(worker)
            idle.put_nowait(worker)
        return idle

    async def _in_worker(self, messages: list[bytes]) -> list[bytes]:
        if self._idle is None:
            self._idle = await self._start_workers()
        worker = await self._idle.get()
        broken = True
        try:
            assert worker.stdin is not None and worker.stdout is not None
            body = pack(messages)
            worker.stdin.write(_LENGTH.pack(len(body)) + body)
            await worker.stdin.drain()
            (size,) = _LENGTH.unpack(await worker.stdout.readexactly(4))
            answer = await worker.stdout.readexactly(size)
            broken = False
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise RuntimeError(f"DKIM signing worker died ({exc})") from exc
        finally:
            if not broken:
                self._idle.put_nowait(worker)
        if not answer:
            raise ValueError("a message could not be DKIM-signed (see the worker's error)")
        signed = unpack(answer)
        if len(signed) != len(messages):
            raise RuntimeError("DKIM signing worker answered out of step")
        return signed

    async def _sign_many(self, messages: list[bytes]) -> list[bytes]:
        chunks = [messages[i : i + CHUNK] for i in range(0, len(messages), CHUNK)]
        if self.processes and (self._idle is not None or len(messages) >= SMALL):
            parts = await asyncio.gather(*(self._in_worker(chunk) for chunk in chunks))
            self.signed += len(messages)
            return [message for part in parts for message in part]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="newsletter-dkim")
        loop = asyncio.get_running_loop()
        signed = await asyncio.gather(
            *(loop.run_in_executor(self._executor, self._sign_chunk, chunk) for chunk in chunks)
        )
        self.signed += len(messages)
        return [message for chunk in signed for message in chunk]

    def close(self) -> None:
        """Stop the signing threads and worker processes."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        workers, self._workers, self._idle = self._workers, [], None
        for worker in workers:
            # Closing stdin ends a worker; a worker stuck mid-batch is ended outright.
            with contextlib.suppress(ProcessLookupError, OSError, RuntimeError):
                if worker.stdin is not None:
                    worker.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                worker.kill()
