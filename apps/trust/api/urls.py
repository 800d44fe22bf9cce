from django.urls import path

from apps.trust.api import views

PROPOSAL = "institutions/<slug:institution_slug>/trust/proposals/<int:proposal_id>/"

urlpatterns = [
    path(
        "institutions/<slug:institution_slug>/trust/policies/",
        views.PolicyListApi.as_view(),
        name="api-trust-policies",
    ),
    path(
        "institutions/<slug:institution_slug>/trust/proposals/",
        views.ProposalListApi.as_view(),
        name="api-trust-proposals",
    ),
    path(PROPOSAL, views.ProposalDetailApi.as_view(), name="api-trust-proposal"),
    path(PROPOSAL + "sign/", views.ProposalSignApi.as_view(), name="api-trust-proposal-sign"),
    path(PROPOSAL + "withdraw/", views.ProposalWithdrawApi.as_view(), name="api-trust-proposal-withdraw"),
    path(PROPOSAL + "export/", views.ProposalExportApi.as_view(), name="api-trust-proposal-export"),
    path("trust/verify/", views.ProposalVerifyApi.as_view(), name="api-trust-verify"),
]
