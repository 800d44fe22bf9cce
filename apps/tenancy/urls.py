"""Pages of one institution, under /i/<institution_slug>/."""

from django.urls import path

from apps.tenancy import views

app_name = "tenancy"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/", views.member_detail, name="member"),
    path("members/<int:membership_id>/revoke/", views.member_revoke, name="member_revoke"),
]
