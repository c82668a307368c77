"""The ``newsletter`` command (Typer): ``app.py`` is the entry point, one module per command."""
