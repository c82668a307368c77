"""The chaos harness's own counting (bench/chaos/tally.py): duplicates explained or not, lost
versus pending, late unsubscribes, verdicts, the table and the exit code."""

from __future__ import annotations

import asyncio


async def test_the_fault_server_counts_copies_drops_and_lost_connections() -> None:
    import aiosmtplib

    from bench.chaos.faultsmtp import ChaosServer, FaultPlan

    plan = FaultPlan(
        greylist=frozenset({"g@x.org"}), greylist_attempts=1, drop=frozenset({"d@x.org"})
    )
    server = ChaosServer(plan)
    server.start()
    try:
        message = b"Subject: hi\r\n\r\nbody\r\n"
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=5)
        await client.connect()
        try:
            await client.sendmail("s@x.org", ["g@x.org"], message)
            raise AssertionError("greylisting did not refuse")
        except aiosmtplib.SMTPRecipientsRefused:
            pass
        await client.sendmail("s@x.org", ["g@x.org"], message)  # second attempt passes
        await client.quit()

        dropping = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=5)
        await dropping.connect()
        try:
            await dropping.sendmail("s@x.org", ["d@x.org"], message)
            raise AssertionError("the connection was not dropped")
        except aiosmtplib.SMTPServerDisconnected:
            pass
        again = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=5)
        await again.connect()
        await again.sendmail("s@x.org", ["d@x.org"], message)  # only the first copy is dropped
        again.close()  # no QUIT: counted as a lost connection
        await asyncio.sleep(0.2)
    finally:
        server.stop()
    copies, lost = server.handler.snapshot()
    assert [(c.recipient, c.dropped_before_reply) for c in copies] == [
        ("g@x.org", False),
        ("d@x.org", True),
        ("d@x.org", False),
    ]
    assert server.handler.attempts["g@x.org"] == 2
    # the QUIT connection is not lost, the dropped one is not counted twice, the last one is
    # (the controller's own start-up probe connection carries no copy and does not matter)
    assert {c.connection for c in copies} & set(lost) == {copies[2].connection}
