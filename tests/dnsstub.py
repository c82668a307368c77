"""A loopback DNS server answering TXT queries from a dict, for verifiers that read resolv.conf.

opendkim-testmsg has no option to take a public key from a file: it asks the resolver named in
/etc/resolv.conf. Tests run it in a private mount namespace (``unshare -m``) where a stub
resolv.conf names this server, so no real DNS is ever asked.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsStub:
    """Answers TXT queries for the names in ``records`` on 127.x.y.z:53, NXDOMAIN otherwise."""

    def __init__(self, records: dict[str, bytes]) -> None:
        self.records = {name.rstrip(".").lower(): value for name, value in records.items()}
        self.queries: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            # port 53 is fixed by resolv.conf: a random loopback address avoids other tests
            self.address = f"127.{random.randrange(1, 255)}.{random.randrange(256)}.53"
            try:
                self._socket.bind((self.address, 53))
                break
            except OSError:
                continue
        else:
            raise OSError("no free loopback address for the DNS stub")
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            value = self.records.get(name)
            if value is None or question.rdtype != dns.rdatatype.TXT:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
                text = " ".join('"' + c.decode("ascii") + '"' for c in chunks)
                response.answer.append(
                    dns.rrset.from_text(question.name, 300, dns.rdataclass.IN, "TXT", text)
                )
            self._socket.sendto(response.to_wire(), peer)


def opendkim_testmsg() -> str | None:
    """Path of Debian's opendkim-testmsg, if installed."""
    return shutil.which("opendkim-testmsg") or (
        "/usr/sbin/opendkim-testmsg" if Path("/usr/sbin/opendkim-testmsg").exists() else None
    )


def opendkim_verify(
    message: bytes, stub: DnsStub, workdir: Path
) -> subprocess.CompletedProcess[bytes]:
    """Run opendkim-testmsg on ``message`` with ``stub`` as the only resolver."""
    tool = opendkim_testmsg()
    if tool is None:
        raise FileNotFoundError("opendkim-testmsg")
    resolv = workdir / "resolv.conf"
    resolv.write_text(f"nameserver {stub.address}\noptions attempts:1 timeout:2\n")
    # As root a mount namespace is enough; otherwise map ourselves to root in a user namespace.
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    script = 'mount --bind "$1" /etc/resolv.conf && exec "$2" -t "$3"'
    return subprocess.run(
        [*unshare, "sh", "-c", script, "sh", str(resolv), tool, str(workdir)],
        input=message.replace(b"\r\n", b"\n"),  # it reads a Unix text file
        capture_output=True,
        timeout=30,
    )
