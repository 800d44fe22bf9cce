"""The notification list of one person in one institution, and marking one as read."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.notifications import selectors, services

PAGE_SIZE = 20


@require_GET
def notification_list(request, institution_slug):
    unread_only = request.GET.get("unread") == "1"
    notifications = selectors.notifications_for(
        institution=request.institution, user=request.user, unread_only=unread_only
    )
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page, "unread_only": unread_only})


@require_POST
def notification_read(request, institution_slug, notification_id):
    notification = selectors.notification_get(
        institution=request.institution, user=request.user, notification_id=notification_id
    )
    services.notification_mark_read(notification=notification, actor=request.user)
    messages.success(request, _("“%(title)s” is marked as read.") % {"title": notification.title})
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(next_url)
    return redirect("notifications:list", institution_slug=request.institution.slug)
