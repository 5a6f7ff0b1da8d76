"""``python -m cloudops`` runs the CLI."""

from cloudops.cli import main

main()
