"""End-to-end tier: the CLI, daemon and web app as processes, Chromium, external checkers, wheels."""
