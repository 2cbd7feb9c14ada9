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
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
