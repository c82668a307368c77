"""The benchmark's far end: an SMTP sink in its own process, and a delaying proxy in front of it."""

from __future__ import annotations

import getpass
import multiprocessing
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from newsletter.devtools.capture import free_port
from newsletter.errors import ConfigError

SMTP_SINK = "/usr/sbin/smtp-sink"
# ../shared/tools/delayproxy.c from the project's root (see ../shared/README.md)
DELAYPROXY_SOURCES = (
    Path(__file__).resolve().parents[4] / "shared" / "tools" / "delayproxy.c",
    Path("/work/shared/tools/delayproxy.c"),
)


def _aiosmtpd_sink(port: int, record: bytes | None, tally: Any) -> None:  # pragma: no cover
    """The sink in a child process; with a DNS ``record``, every message's DKIM signature is
    verified with dkimpy (independent of the sender's signer) before the 250 reply."""
    import dkim
    from aiosmtpd.controller import Controller

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return record or b""

    class _Sink:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            if record is not None:
                try:
                    good = dkim.verify(envelope.original_content, dnsfunc=lookup)
                except dkim.DKIMException:
                    good = False
                with tally.get_lock():
                    tally[0 if good else 1] += 1
            return "250 2.0.0 Ok"

    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


class Sink:
    """An SMTP sink in a separate process: Postfix's smtp-sink if installed, else aiosmtpd.

    ``verify`` (a DKIM DNS record) makes it the aiosmtpd sink verifying every message; the
    counts of verified and failed messages are in ``verified`` and ``unverified``."""

    def __init__(self, verify: bytes | None = None) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._child: multiprocessing.process.BaseProcess | None = None
        self._record = verify
        context = multiprocessing.get_context("spawn")
        self._tally = context.Array("q", 2)
        if verify is not None:
            self.kind = "aiosmtpd verifying DKIM with dkimpy"
        else:
            self.kind = "smtp-sink" if shutil.which(SMTP_SINK) else "aiosmtpd"

    @property
    def verified(self) -> int:
        return int(self._tally[0])

    @property
    def unverified(self) -> int:
        return int(self._tally[1])

    def __enter__(self) -> Sink:
        if self.kind == "smtp-sink":
            # -c counts, 1000 = backlog; smtp-sink offers PIPELINING and CHUNKING (BDAT)
            command = [SMTP_SINK, "-u", getpass.getuser(), f"127.0.0.1:{self.port}", "1000"]
            self._process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            child = multiprocessing.get_context("spawn").Process(
                target=_aiosmtpd_sink, args=(self.port, self._record, self._tally), daemon=True
            )
            child.start()
            self._child = child
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._child is not None:
            self._child.terminate()
            self._child.join(timeout=10)


class DelayProxy:
    """``delayproxy`` built at run time into a temporary folder, delaying each chunk by ``ms``."""

    def __init__(self, target_port: int, ms: int) -> None:
        if ms < 0 or ms > 10_000:
            raise ConfigError("--latency-ms: between 0 and 10000")
        source = next((path for path in DELAYPROXY_SOURCES if path.is_file()), None)
        if source is None:
            raise ConfigError("--latency-ms: ../shared/tools/delayproxy.c was not found")
        compiler = shutil.which("cc")
        if compiler is None:
            raise ConfigError("--latency-ms needs a C compiler (cc) to build delayproxy")
        self._folder = tempfile.TemporaryDirectory(prefix="newsletter-delayproxy-")
        binary = Path(self._folder.name) / "delayproxy"
        built = subprocess.run(
            [compiler, "-O2", "-pthread", "-o", str(binary), str(source)],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            self._folder.cleanup()
            first = (built.stderr.strip().splitlines() or ["?"])[0]
            raise ConfigError(f"--latency-ms: cannot build delayproxy: {first}")
        self.binary = binary
        self.port = free_port()
        self.target_port = target_port
        self.ms = ms
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DelayProxy:
        self._process = subprocess.Popen(
            [str(self.binary), str(self.port), str(self.target_port), str(self.ms)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._folder.cleanup()


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Return once something listens on 127.0.0.1:port; a ConfigError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ConfigError(f"nothing listens on benchmark port {port}")
