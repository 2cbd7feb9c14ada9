#!/usr/bin/env python
"""Django's command-line utility for administrative tasks. Without DATABASE_URL it holds the embedded
PostgreSQL (config.embedded_db) from its first line to its exit: runserver's reloader keeps the server
across reloads, and a command stopped by SIGTERM still stops the server."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.management import execute_from_command_line

    if not os.environ.get("DATABASE_URL"):
        from config import embedded_db

        embedded_db.start()
    from common.request_id import request_id_bound

    # What a command changes is audited with this label as its request ID (ledger.audit).
    with request_id_bound(f"cli:{sys.argv[1] if len(sys.argv) > 1 else 'help'}"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
