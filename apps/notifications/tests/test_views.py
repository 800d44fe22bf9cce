"""The notification list and marking as read, in the web UI."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from apps.notifications.services import notification_send
from apps.tenancy.scope import institution_scope

pytestmark = pytest.mark.django_db


def list_url(institution):
    return reverse("notifications:list", kwargs={"institution_slug": institution.slug})


def read_url(institution, notification):
    return reverse(
        "notifications:read", kwargs={"institution_slug": institution.slug, "notification_id": notification.pk}
    )


def send(institution, recipient, title, **kwargs):
    with institution_scope(institution):
        return notification_send(institution=institution, recipient=recipient, title=title, **kwargs)


def read_at(notification):
    return Notification.all_institutions.get(pk=notification.pk).read_at


def test_the_list_shows_only_my_notifications_newest_first(client, aurelia, bob, alice):
    send(aurelia, bob, "First for Bob")
    send(aurelia, bob, "Second for Bob", body="Line one\nLine two", url="/i/aurelia/")
    send(aurelia, alice, "For Alice")
    client.force_login(bob)
    response = client.get(list_url(aurelia))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Second for Bob") < html.index("First for Bob")
    assert "For Alice" not in html
    assert '<a href="/i/aurelia/">Second for Bob</a>' in html
    assert "Line one<br>Line two" in html


def test_an_unsafe_link_in_a_notification_is_not_made_clickable(client, aurelia, bob):
    send(aurelia, bob, "Click me", url="javascript:alert(1)")
    client.force_login(bob)
    html = client.get(list_url(aurelia)).content.decode()
    assert "Click me" in html
    assert "javascript:" not in html


def test_the_list_is_paginated_in_bounded_queries(client, aurelia, bob, django_assert_max_num_queries):
    for n in range(25):
        send(aurelia, bob, f"Notice {n}")
    client.force_login(bob)
    with django_assert_max_num_queries(12):
        response = client.get(list_url(aurelia))
    html = response.content.decode()
    assert "Notice 24" in html and "Notice 4" not in html.replace("Notice 4<", "")  # page 1 holds the newest 20
    assert "Page 1 of 2" in html
    assert "Notice 0" in client.get(list_url(aurelia), {"page": 2}).content.decode()


def test_mark_as_read_is_a_post_that_is_audited(client, aurelia, bob):
    notification = send(aurelia, bob, "Please read")
    client.force_login(bob)
    assert client.get(read_url(aurelia, notification)).status_code == 405
    assert read_at(notification) is None

    events = AuditEvent.objects.count()
    response = client.post(read_url(aurelia, notification), follow=True)
    assert response.redirect_chain[-1][0] == list_url(aurelia)
    assert read_at(notification) is not None
    assert AuditEvent.objects.count() == events + 1
    assert "“Please read” is marked as read." in response.content.decode()

    client.get(list_url(aurelia), {"unread": "1"})
    unread_page = client.get(list_url(aurelia), {"unread": "1"}).content.decode()
    assert "You have read every notification." in unread_page


def test_mark_as_read_returns_to_a_local_page_only(client, aurelia, bob):
    first = send(aurelia, bob, "One")
    second = send(aurelia, bob, "Two")
    client.force_login(bob)
    dashboard = reverse("tenancy:dashboard", kwargs={"institution_slug": "aurelia"})
    assert client.post(read_url(aurelia, first), {"next": dashboard})["Location"] == dashboard
    assert client.post(read_url(aurelia, second), {"next": "https://evil.example/"})["Location"] == list_url(aurelia)


def test_nobody_reads_someone_elses_notification(client, aurelia, bob, alice):
    notification = send(aurelia, alice, "Alice's")
    client.force_login(bob)
    events = AuditEvent.objects.count()
    assert client.post(read_url(aurelia, notification)).status_code == 404
    assert read_at(notification) is None
    assert AuditEvent.objects.count() == events


def test_charlie_gets_404_on_aurelias_notification_pages(client, aurelia, bob, charlie):
    notification = send(aurelia, bob, "Aurelia only")
    client.force_login(charlie)
    events = AuditEvent.objects.count()
    assert client.get(list_url(aurelia)).status_code == 404
    assert client.post(read_url(aurelia, notification)).status_code == 404
    assert read_at(notification) is None
    assert AuditEvent.objects.count() == events
