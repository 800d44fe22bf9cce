from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.notifications import selectors, services
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination


class NotificationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    url = serializers.CharField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationFilterInput(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


class NotificationListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(parameters=[NotificationFilterInput], responses=NotificationOutput(many=True))
    def get(self, request, institution_slug):
        """Your notifications in this institution, newest first."""
        params = NotificationFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.notifications_for(
            institution=request.institution, user=request.user, unread_only=params.validated_data["unread"]
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(NotificationOutput(page, many=True).data)


class NotificationReadApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(request=None, responses=NotificationOutput)
    def post(self, request, institution_slug, notification_id):
        """Mark one of your notifications as read."""
        notification = selectors.notification_get(
            institution=request.institution, user=request.user, notification_id=notification_id
        )
        notification = services.notification_mark_read(notification=notification, actor=request.user)
        return Response(NotificationOutput(notification).data)
