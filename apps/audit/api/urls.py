from django.urls import path

from apps.audit.api import views

urlpatterns = [
    path(
        "institutions/<slug:institution_slug>/audit/events/",
        views.AuditEventListApi.as_view(),
        name="api-audit-events",
    ),
    path(
        "institutions/<slug:institution_slug>/audit/events/<int:sequence>/",
        views.AuditEventDetailApi.as_view(),
        name="api-audit-event",
    ),
    path(
        "institutions/<slug:institution_slug>/audit/verifications/",
        views.LogVerificationListApi.as_view(),
        name="api-audit-verifications",
    ),
    path(
        "institutions/<slug:institution_slug>/audit/verifications/<int:verification_id>/",
        views.LogVerificationDetailApi.as_view(),
        name="api-audit-verification",
    ),
    path("audit/tree-heads/latest/", views.TreeHeadLatestApi.as_view(), name="api-audit-sth-latest"),
    path("audit/tree-heads/<str:tree_size>/", views.TreeHeadAtSizeApi.as_view(), name="api-audit-sth"),
    path("audit/proofs/inclusion/", views.InclusionProofApi.as_view(), name="api-audit-inclusion"),
    path("audit/proofs/consistency/", views.ConsistencyProofApi.as_view(), name="api-audit-consistency"),
]
