"""``make chaos``: a bounded fault campaign against the real CLI (issue 10).

``faultsmtp`` is the fault-injecting aiosmtpd server, ``trial`` a scenario's database and
processes, ``scenarios`` and ``signals`` the scenarios, ``tally`` the pure counting and the
table, ``__main__`` the runner.
"""
