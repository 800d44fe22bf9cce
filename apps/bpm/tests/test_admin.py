"""The Django admin shows the BPM rows of every institution, read-only, to node operators."""

from __future__ import annotations

import pytest

from apps.bpm.models import WorkItem
from apps.bpm.tests.factories import start, upload
from portal.testing import UserFactory

pytestmark = pytest.mark.django_db


def test_the_admin_lists_and_shows_bpm_rows_read_only(client, aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {"crowd": 1})
    item = WorkItem.all_institutions.get()
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    for path in [
        "/admin/bpm/processdefinition/",
        "/admin/bpm/processversion/",
        f"/admin/bpm/processversion/{instance.version_id}/change/",
        "/admin/bpm/processinstance/",
        f"/admin/bpm/processinstance/{instance.pk}/change/",
        "/admin/bpm/instanceevent/",
        "/admin/bpm/workitem/",
        f"/admin/bpm/workitem/{item.pk}/change/",
        "/admin/bpm/servicecall/",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert b'name="_save"' not in response.content, path
