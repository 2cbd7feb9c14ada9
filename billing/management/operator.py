"""Who an operator's command acts as: the user, authenticated by their own password (at a terminal, or
one line on standard input with --password-stdin for scripts) through the project's authentication
backends, login throttling included. A bare user name is never enough, so four-eyes approval cannot be
signed for somebody else (`manage.py profiles`, `manage.py allocation_rules`)."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import authenticate
from django.core.management.base import CommandError
from django.http import HttpRequest


def operator_user(username: str, *, password_stdin: bool) -> Any:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {username}: ")
    else:
        raise CommandError(
            f"acting as {username!r} needs their password: at a terminal, or one line on standard input "
            "with --password-stdin"
        )
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise CommandError(f"authentication failed for {username!r}")
    return user
