import pytest

from apps.trust.tests.factories import admin_of, admission_policy
from portal.testing import InstitutionFactory


@pytest.fixture
def ministry(db):
    return InstitutionFactory(name="Ministry of the Interior", slug="ministry-interior")


@pytest.fixture
def nordwind(db):
    return InstitutionFactory(name="Nordwind Energy", slug="nordwind")


@pytest.fixture
def beatrice(borealis):
    return admin_of(borealis, "beatrice")


@pytest.fixture
def ines(ministry):
    return admin_of(ministry, "ines")


@pytest.fixture
def nils(nordwind):
    """Administrator of an institution that is not an authority."""
    return admin_of(nordwind, "nils")


@pytest.fixture
def policy(aurelia, borealis, ministry):
    """Admission: 2 of Aurelia, Borealis and the Ministry."""
    return admission_policy(aurelia, borealis, ministry, k=2)
