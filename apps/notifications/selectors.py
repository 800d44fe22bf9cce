from django.db.models import QuerySet
from django.http import Http404

from apps.notifications.models import Notification


def notifications_for(*, institution, user, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(institution=institution, recipient=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at")


def notification_get(*, institution, user, notification_id: int) -> Notification:
    """Raises: Http404 unless it is this person's notification in this institution."""
    notification = Notification.objects.filter(institution=institution, recipient=user, pk=notification_id).first()
    if notification is None:
        raise Http404
    return notification
