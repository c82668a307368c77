"""``python -m newsletter`` runs the CLI."""

from newsletter.cli.app import main

main()
