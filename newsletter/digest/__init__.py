"""The digest: select each subscriber's articles and render messages (pure: no I/O)."""
