import pytest

from apps.tenancy.models import Role
from portal.testing import UserFactory, enrol_totp, member


@pytest.fixture
def beatrice(borealis):
    """Borealis' institution administrator: the one a ping to Borealis notifies."""
    user = member(UserFactory(username="beatrice", first_name="Beatrice"), borealis, Role.INSTITUTION_ADMIN)
    enrol_totp(user)
    return user
