"""Logins through Django's auth are throttled by django-axes: 5 failures for one username from one address
lock that pair out for the cool-off, the right password included; other users and addresses are not."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # UserFactory's


def attempt(client: Client, username: str, password: str, address: str = "203.0.113.7") -> int:
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return response.status_code


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def operator():
    return UserFactory.create(username="operator", is_staff=True)


def test_five_failures_lock_the_username_out_even_with_the_right_password(operator):
    client = Client()

    failures = [attempt(client, "operator", "wrong") for _ in range(5)]
    locked = attempt(client, "operator", PASSWORD)

    assert failures == [200] * 4 + [429]  # the fifth failure already answers with the lockout
    assert locked == 429
    assert logged_in(client) is False


def test_four_failures_do_not_lock_the_username_out(operator):
    client = Client()

    for _ in range(4):
        attempt(client, "operator", "wrong")

    assert (attempt(client, "operator", PASSWORD), logged_in(client)) == (302, True)


def test_another_user_from_the_same_address_is_unaffected(operator):
    UserFactory.create(username="colleague", is_staff=True)
    for _ in range(5):
        attempt(Client(), "operator", "wrong")
    client = Client()

    assert (attempt(client, "colleague", PASSWORD), logged_in(client)) == (302, True)


def test_the_same_user_from_another_address_is_unaffected(operator):
    for _ in range(5):
        attempt(Client(), "operator", "wrong", address="203.0.113.7")
    client = Client()

    assert (attempt(client, "operator", PASSWORD, address="198.51.100.9"), logged_in(client)) == (302, True)


def test_the_lockout_ends_after_the_cool_off(operator):
    for _ in range(5):
        attempt(Client(), "operator", "wrong")
    client = Client()

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        assert (attempt(client, "operator", PASSWORD), logged_in(client)) == (302, True)
