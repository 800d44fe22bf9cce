"""Factories and personas every app's tests use.

alice: a civil servant of the City of Aurelia; bob: a citizen of the same city;
charlie: a civil servant of another city, with no access to Aurelia; ada: Aurelia's
institution administrator, with TOTP enrolled.
"""

from __future__ import annotations

import factory
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.identity.models import User
from apps.tenancy.models import Institution, InstitutionKind, Membership, Role

TEST_PASSWORD = "correct horse battery staple"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(TEST_PASSWORD)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Institution {n}")
    slug = factory.Sequence(lambda n: f"institution-{n}")
    kind = InstitutionKind.MUNICIPALITY
    did = factory.LazyAttribute(lambda i: f"did:web:testserver:institutions:{i.slug}")


def member(user: User, institution: Institution, *roles: str) -> User:
    for role in roles:
        Membership.objects.get_or_create(user=user, institution=institution, role=role)
    return user


def enrol_totp(user: User) -> Authenticator:
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return existing or TOTP.activate(user, TOTP_SECRET).instance


def current_totp_code(secret: str = TOTP_SECRET) -> str:
    """The code an authenticator app shows now (the middle of the accepted window)."""
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and TOTP replay marks must not leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def aurelia(db) -> Institution:
    return InstitutionFactory(name="City of Aurelia", slug="aurelia")


@pytest.fixture
def borealis(db) -> Institution:
    return InstitutionFactory(name="City of Borealis", slug="borealis")


@pytest.fixture
def alice(aurelia) -> User:
    return member(UserFactory(username="alice", first_name="Alice"), aurelia, Role.CIVIL_SERVANT)


@pytest.fixture
def bob(aurelia) -> User:
    return member(UserFactory(username="bob", first_name="Bob"), aurelia, Role.CITIZEN)


@pytest.fixture
def charlie(borealis) -> User:
    return member(UserFactory(username="charlie", first_name="Charlie"), borealis, Role.CIVIL_SERVANT)


@pytest.fixture
def ada(aurelia) -> User:
    user = member(UserFactory(username="ada", first_name="Ada"), aurelia, Role.INSTITUTION_ADMIN, Role.AUDITOR)
    enrol_totp(user)
    return user


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def api_as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the session, end database sessions left by other threads.

    Websocket tests and the in-thread daphne server run ORM calls on executor threads
    whose connections the main thread cannot close; PostgreSQL would then refuse to
    drop the test database."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


def websocket_headers(user=None) -> list[tuple[bytes, bytes]]:
    """Headers for a channels WebsocketCommunicator: same origin, and `user`'s session cookie."""
    from django.conf import settings
    from django.test import Client

    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return headers
