"""Portal sign-in, tenant scope and sessions: who reaches which tenant, switching, idle timeout,
revocation, login throttling."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from portal.access import SESSION_TENANT
from tenants.models import Role, UserSession
from tenants.services import membership_grant
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _user(username: str = "pat"):
    user = UserFactory.create(username=username)
    user.set_password(PASSWORD)
    user.save()
    return user


def test_it_signs_a_customer_in_and_records_the_session():
    user = _user()
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=TenantFactory.create(slug="acme"))
    client = Client()

    response = client.post("/portal/login/", {"username": "pat", "password": PASSWORD})

    assert (response.status_code, response["Location"]) == (302, "/portal/")
    assert UserSession.objects.get(user=user).session_key == client.session.session_key


def test_it_sends_an_anonymous_visitor_to_the_login_page():
    response = Client().get("/portal/")
    assert (response.status_code, response["Location"]) == (302, "/portal/login/?next=/portal/")


def test_a_user_without_a_tenant_gets_404_not_someone_elses_portal():
    client = Client()
    client.force_login(_user())
    TenantFactory.create(slug="other")
    assert client.get("/portal/sessions/").status_code == 404


def test_a_user_of_two_tenants_switches_between_them():
    user = _user()
    acme, globex = (
        TenantFactory.create(slug="acme", name="Acme"),
        TenantFactory.create(slug="globex", name="Globex"),
    )
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=acme)
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=globex)
    client = Client()
    client.force_login(user)

    response = client.post("/portal/switch/", {"tenant": str(globex.pk)})

    assert response.status_code == 302
    assert client.session[SESSION_TENANT] == globex.pk
    page = client.get("/portal/sessions/").content.decode()
    assert f'<option value="{globex.pk}" selected>Globex</option>' in page


def test_switching_to_a_tenant_the_user_may_not_see_is_404():
    user = _user()
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=TenantFactory.create(slug="acme"))
    other = TenantFactory.create(slug="globex")
    client = Client()
    client.force_login(user)

    assert client.post("/portal/switch/", {"tenant": str(other.pk)}).status_code == 404
    assert SESSION_TENANT not in client.session


def test_sessions_expire_after_sixty_idle_minutes_by_default():
    assert (settings.SESSION_COOKIE_AGE, settings.SESSION_SAVE_EVERY_REQUEST) == (3600, True)


def test_a_revoked_session_is_signed_out_on_its_next_request():
    user = _user()
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=TenantFactory.create(slug="acme"))
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    phone_session = UserSession.objects.get(session_key=phone.session.session_key)

    response = laptop.post("/portal/sessions/", {"session": str(phone_session.pk)})

    assert response.status_code == 302
    assert not Session.objects.filter(session_key=phone_session.session_key).exists()
    assert phone.get("/portal/sessions/")["Location"].startswith("/portal/login/")
    assert laptop.get("/portal/sessions/").status_code == 200


def test_signing_out_everywhere_else_keeps_this_session():
    user = _user()
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=TenantFactory.create(slug="acme"))
    clients = [Client(), Client(), Client()]
    for client in clients:
        client.force_login(user)

    clients[0].post("/portal/sessions/", {"all": "1"})

    assert [c.get("/portal/sessions/").status_code for c in clients] == [200, 302, 302]
    assert UserSession.objects.filter(user=user, revoked_at__isnull=True).count() == 1


def test_a_user_cannot_revoke_another_users_session():
    owner, intruder = _user("owner"), _user("intruder")
    tenant = TenantFactory.create(slug="acme")
    membership_grant(user=owner, role=Role.CUSTOMER_VIEWER, tenant=tenant)
    membership_grant(user=intruder, role=Role.CUSTOMER_VIEWER, tenant=tenant)
    victim, attacker = Client(), Client()
    victim.force_login(owner)
    attacker.force_login(intruder)
    target = UserSession.objects.get(user=owner)

    assert attacker.post("/portal/sessions/", {"session": str(target.pk)}).status_code == 404
    assert victim.get("/portal/sessions/").status_code == 200


def test_logins_are_throttled_after_repeated_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    _user()
    client = Client()
    for _ in range(3):
        client.post("/portal/login/", {"username": "pat", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")

    locked = client.post("/portal/login/", {"username": "pat", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")

    assert locked.status_code == 429


def test_signing_out_ends_the_session_in_the_list():
    user = _user()
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=TenantFactory.create(slug="acme"))
    gone, here = Client(), Client()
    gone.force_login(user)
    here.force_login(user)

    gone.post("/portal/logout/")

    page = here.get("/portal/sessions/").content.decode()
    assert page.count("<tr>") == 2  # the header row and this session only
    assert UserSession.objects.filter(user=user, revoked_at__isnull=False).count() == 1


def test_a_session_idle_past_the_timeout_is_signed_out(settings):
    import time_machine

    user = _user()
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=TenantFactory.create(slug="acme"))
    client = Client()
    with time_machine.travel("2026-12-01T09:00:00+00:00", tick=False) as clock:
        client.force_login(user)
        assert client.get("/portal/sessions/").status_code == 200
        clock.move_to("2026-12-01T09:59:00+00:00")  # 59 idle minutes: still in
        assert client.get("/portal/sessions/").status_code == 200
        clock.move_to("2026-12-01T11:00:00+00:00")  # 61 idle minutes after the last request
        response = client.get("/portal/sessions/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/")


def test_the_sessions_page_shows_local_times_in_the_tenants_locale():
    import time_machine

    user = _user()
    tenant = TenantFactory.create(slug="kaiju", timezone="Asia/Tokyo", locale="ja_JP")
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=tenant)
    client = Client()
    with time_machine.travel("2026-12-01T09:00:00+00:00", tick=False):
        client.force_login(user)
        page = client.get("/portal/sessions/").content.decode()
    assert "<td>2026/12/01 18:00</td>" in page  # 09:00 UTC is 18:00 in Tokyo
    assert "Sessions end after 60 minutes without activity" in page
