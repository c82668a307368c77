"""Development tools: the demo, the benchmark and the capturing SMTP server."""
