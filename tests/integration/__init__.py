"""Integration tier: real SQLite and PostgreSQL, real aiosmtpd and HTTP servers on loopback, in-process."""
