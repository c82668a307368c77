"""End-to-end tier: the CLI, daemon and web app as processes, Chromium, outside checkers, wheels."""
