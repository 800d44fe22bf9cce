"""Pages of the agent registry, under /i/<institution_slug>/agents/."""

from django.urls import path

from apps.agents import views

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
