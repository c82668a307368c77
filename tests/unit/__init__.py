"""Unit tier: pure logic, no database, network, subprocess or browser; all of it under a minute."""
