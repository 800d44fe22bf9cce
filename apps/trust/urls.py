"""Pages of threshold approvals, under /i/<institution_slug>/trust/."""

from django.urls import path

from apps.trust import views

app_name = "trust"

urlpatterns = [
    path("proposals/", views.proposal_list, name="proposals"),
    path("proposals/new/", views.proposal_create, name="proposal_create"),
    path("proposals/<int:proposal_id>/", views.proposal_detail, name="proposal"),
    path("proposals/<int:proposal_id>/sign/", views.proposal_sign, name="proposal_sign"),
    path("proposals/<int:proposal_id>/withdraw/", views.proposal_withdraw, name="proposal_withdraw"),
    path("proposals/<int:proposal_id>/export/", views.proposal_export, name="proposal_export"),
    path("policies/", views.policy_list, name="policies"),
]
