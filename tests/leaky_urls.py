"""The portal's URLs plus two deliberately broken views, to prove the sweep catches leaks."""

from django.db import transaction
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_append
from apps.tenancy.models import Institution
from portal.urls import urlpatterns as portal_urlpatterns


class LeakyReadApi(APIView):
    """Forgets to subclass InstitutionScopedAPIView: any signed-in user reads any institution."""

    permission_classes = [IsAuthenticated]

    def get(self, request, institution_slug):
        return Response({"name": Institution.objects.get(slug=institution_slug).name})


class LeakyWriteApi(APIView):
    permission_classes = [IsAuthenticated]

    def dispatch(self, request, *args, **kwargs):
        with transaction.atomic():
            institution = Institution.objects.get(slug=kwargs["institution_slug"])
            audit_append(institution=institution, actor=None, action="tests.leak", target=institution)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, institution_slug):
        return Response(status=404)

    post = put = patch = delete = get


urlpatterns = [
    path("api/v1/institutions/<slug:institution_slug>/leaky-read/", LeakyReadApi.as_view(), name="leaky-read"),
    path("api/v1/institutions/<slug:institution_slug>/leaky-write/", LeakyWriteApi.as_view(), name="leaky-write"),
    *portal_urlpatterns,
]
