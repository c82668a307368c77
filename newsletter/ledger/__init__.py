"""The ledger: plan a run's rows and record every message's fate."""
