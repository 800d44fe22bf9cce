from django.urls import path

from apps.agents.api import clusters, negotiation, reputation, views
from apps.agents.learning import api as learning

AGENTS = "institutions/<slug:institution_slug>/agents/"
AGENT = AGENTS + "<uuid:agent_uid>/"

urlpatterns = [
    path(AGENTS, views.AgentListApi.as_view(), name="api-agents"),
    path(AGENT, views.AgentDetailApi.as_view(), name="api-agent"),
    path(AGENT + "versions/", views.AgentVersionsApi.as_view(), name="api-agent-versions"),
    path(AGENT + "model-card/", views.ModelCardApi.as_view(), name="api-agent-model-card"),
    path(AGENT + "suspend/", views.AgentSuspendApi.as_view(), name="api-agent-suspend"),
    path(AGENT + "reinstate/", views.AgentReinstateApi.as_view(), name="api-agent-reinstate"),
    path(AGENT + "retire/", views.AgentRetireApi.as_view(), name="api-agent-retire"),
    path(AGENT + "certify/", views.AgentCertifyApi.as_view(), name="api-agent-certify"),
]

CLUSTERS = AGENTS + "clusters/"
urlpatterns += [
    path(CLUSTERS, clusters.ClusterListApi.as_view(), name="api-agent-clusters"),
    path(CLUSTERS + "<int:cluster_id>/", clusters.ClusterDetailApi.as_view(), name="api-agent-cluster"),
    path(CLUSTERS + "<int:cluster_id>/runs/", clusters.ClusterRunsApi.as_view(), name="api-agent-cluster-runs"),
    path(AGENTS + "runs/<int:run_id>/", clusters.ClusterRunDetailApi.as_view(), name="api-agent-run"),
    path(
        CLUSTERS + "<int:cluster_id>/calibration/",
        clusters.ClusterCalibrationApi.as_view(),
        name="api-agent-cluster-calibration",
    ),
]

# learning from council verdicts (apps/agents/learning)
LEARNING = AGENT + "learning/"
CANDIDATE = LEARNING + "candidates/<int:candidate_id>/"
urlpatterns += [
    path(LEARNING, learning.LearningApi.as_view(), name="api-agent-learning"),
    path(CANDIDATE, learning.CandidateApi.as_view(), name="api-agent-learning-candidate"),
    path(CANDIDATE + "promote/", learning.CandidatePromoteApi.as_view(), name="api-agent-learning-promote"),
    path(CANDIDATE + "reject/", learning.CandidateRejectApi.as_view(), name="api-agent-learning-reject"),
]

urlpatterns += [
    path(AGENTS + "reputation/", reputation.ReputationApi.as_view(), name="api-agents-reputation"),
    path(AGENT + "reputation/", reputation.AgentReputationApi.as_view(), name="api-agent-reputation"),
]

# the contract net (apps/agents/negotiation)
NEGOTIATIONS = AGENTS + "negotiations/"
CALL = NEGOTIATIONS + "<uuid:announcement_uid>/"
INCOMING = NEGOTIATIONS + "incoming/"
urlpatterns += [
    path(NEGOTIATIONS, negotiation.AnnouncementListApi.as_view(), name="api-agent-negotiations"),
    path(CALL, negotiation.AnnouncementDetailApi.as_view(), name="api-agent-negotiation"),
    path(CALL + "bids/", negotiation.AnnouncementBidApi.as_view(), name="api-agent-negotiation-bid"),
    path(CALL + "award/", negotiation.AnnouncementAwardApi.as_view(), name="api-agent-negotiation-award"),
    path(CALL + "cancel/", negotiation.AnnouncementCancelApi.as_view(), name="api-agent-negotiation-cancel"),
    path(CALL + "contract/", negotiation.ContractApi.as_view(), name="api-agent-negotiation-contract"),
    path(CALL + "contract/sign/", negotiation.ContractSignApi.as_view(), name="api-agent-negotiation-sign"),
    path(INCOMING, negotiation.ReceivedCallListApi.as_view(), name="api-agent-negotiations-incoming"),
    path(
        INCOMING + "<uuid:call_uid>/",
        negotiation.ReceivedCallDetailApi.as_view(),
        name="api-agent-negotiation-incoming",
    ),
    path(
        INCOMING + "<uuid:call_uid>/bids/",
        negotiation.ReceivedCallBidApi.as_view(),
        name="api-agent-negotiation-incoming-bid",
    ),
]
