"""`python -m config.embedded_db stop`: stops the embedded PostgreSQL if it runs and no live process
holds it (a holder killed by SIGKILL leaves it running); exits 1 while a live process holds it. `make clean`
and .ci/run call it. `status` prints whether it runs and which processes hold it."""

from __future__ import annotations

import sys

from config import embedded_db


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "stop":
        if embedded_db.stop_if_unheld():
            print("embedded PostgreSQL stopped")
            return 0
        print(embedded_db.status())
        return 1 if embedded_db.running() else 0
    if command == "status":
        print(embedded_db.status())
        return 0
    print(f"usage: python -m config.embedded_db [status|stop] (data: {embedded_db.PGDATA})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
