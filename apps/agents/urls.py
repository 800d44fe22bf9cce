"""Pages of the agent registry, under /i/<institution_slug>/agents/."""

from django.urls import path

from apps.agents import views
from apps.agents.clusters import views as cluster_views
from apps.agents.learning import views as learning_views
from apps.agents.negotiation import views as negotiation_views
from apps.agents.reputation import views as reputation_views

app_name = "agents"

AGENT = "<uuid:agent_uid>/"

urlpatterns = [
    path("", views.agent_list, name="list"),
    path("new/", views.agent_create, name="create"),
    path(AGENT, views.agent_detail, name="detail"),
    path(AGENT + "edit/", views.agent_edit, name="edit"),
    path(AGENT + "model-card/", views.model_card_edit, name="model_card_edit"),
    path(AGENT + "suspend/", views.agent_suspend, name="suspend"),
    path(AGENT + "reinstate/", views.agent_reinstate, name="reinstate"),
    path(AGENT + "retire/", views.agent_retire, name="retire"),
    path(AGENT + "certify/", views.agent_certify, name="certify"),
]

public_urlpatterns = [
    path("<uuid:agent_uid>/model-card/", views.public_model_card, name="public_model_card"),
]

urlpatterns += [
    path("runs/<int:run_id>/", views.cluster_run_detail, name="run_detail"),
]

CLUSTER = "clusters/<int:cluster_id>/"

urlpatterns += [
    path("clusters/", cluster_views.cluster_list, name="cluster_list"),
    path("clusters/new/", cluster_views.cluster_create, name="cluster_create"),
    path(CLUSTER, cluster_views.cluster_detail, name="cluster_detail"),
    path(CLUSTER + "edit/", cluster_views.cluster_edit, name="cluster_edit"),
    path(CLUSTER + "submit/", cluster_views.cluster_run_submit, name="cluster_run_submit"),
    path("my-decisions/", cluster_views.my_decisions, name="my_decisions"),
    path("my-decisions/<int:run_id>/", cluster_views.my_decision, name="my_decision"),
]

urlpatterns += [
    path("reputation/", reputation_views.reputation_ranking, name="reputation"),
    path("reputation/recompute/", reputation_views.reputation_recompute, name="reputation_recompute"),
    path(AGENT + "reputation/", reputation_views.agent_reputation, name="agent_reputation"),
]

# the contract net (apps/agents/negotiation)
CALL = "negotiations/<uuid:announcement_uid>/"

urlpatterns += [
    path("negotiations/", negotiation_views.negotiation_list, name="negotiation_list"),
    path("negotiations/new/", negotiation_views.announcement_create, name="negotiation_create"),
    path(CALL, negotiation_views.announcement_detail, name="negotiation_detail"),
    path(CALL + "bid/", negotiation_views.announcement_bid, name="negotiation_bid"),
    path(CALL + "award/", negotiation_views.announcement_award, name="negotiation_award"),
    path(CALL + "cancel/", negotiation_views.announcement_cancel, name="negotiation_cancel"),
    path(CALL + "contract/", negotiation_views.contract_detail, name="negotiation_contract"),
    path(
        "negotiations/incoming/<uuid:call_uid>/",
        negotiation_views.received_call_detail,
        name="negotiation_incoming",
    ),
]

# learning from council verdicts (apps/agents/learning)
LEARNING = AGENT + "learning/"
CANDIDATE = LEARNING + "<int:candidate_id>/"

urlpatterns += [
    path(LEARNING, learning_views.learning, name="learning"),
    path(LEARNING + "retrain/", learning_views.retrain, name="learning_retrain"),
    path(CANDIDATE, learning_views.candidate_detail, name="learning_candidate"),
    path(CANDIDATE + "promote/", learning_views.candidate_promote, name="learning_promote"),
    path(CANDIDATE + "reject/", learning_views.candidate_reject, name="learning_reject"),
]
