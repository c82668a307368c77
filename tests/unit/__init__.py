"""Unit tier: pure logic, no database, network, subprocess or browser; the whole tier in under a minute."""
