from django.urls import path

from apps.tenancy.api import views

urlpatterns = [
    path("institutions/", views.InstitutionListApi.as_view(), name="api-institutions"),
    path("institutions/<slug:institution_slug>/", views.InstitutionDetailApi.as_view(), name="api-institution"),
    path(
        "institutions/<slug:institution_slug>/members/",
        views.MembershipListApi.as_view(),
        name="api-members",
    ),
    path(
        "institutions/<slug:institution_slug>/members/<int:membership_id>/",
        views.MembershipDetailApi.as_view(),
        name="api-member",
    ),
]
