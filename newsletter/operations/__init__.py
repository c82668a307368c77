"""Use cases: what the CLI, the console, the API and the scheduler ask; they own transactions."""
