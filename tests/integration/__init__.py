"""Integration tier: real SQLite, PostgreSQL, aiosmtpd and HTTP servers on loopback, in-process."""
