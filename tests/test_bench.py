"""``newsletter bench`` end to end on a small audience, into the sink it starts itself."""

from __future__ import annotations

from newsletter.bench import run_bench
from tests.smtpserver import RecordingServer


def test_bench_into_its_own_sink_counts_premailer_calls() -> None:
    result = run_bench(subscribers=400, topics=3, articles=12, concurrency=4, batch_size=100)
    assert result.sent == 400 and result.status == "done"
    # subscribers are spread over the 7 combinations of 3 topics
    assert result.distinct_digests == 7
    assert result.premailer_calls == result.distinct_digests
    assert result.send_rate > 0 and result.peak_rss_mb > 0
    assert "send (wall)" in "".join(result.stages)


def test_bench_against_a_given_server(smtp_server: RecordingServer) -> None:
    result = run_bench(
        subscribers=50, topics=2, articles=6, smtp=f"127.0.0.1:{smtp_server.port}", concurrency=2
    )
    assert result.sent == 50
    assert len({m.rcpt_tos[0] for m in smtp_server.messages}) == 50
    assert result.premailer_calls == result.distinct_digests == 3
