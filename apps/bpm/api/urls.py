"""/api/v1/ routes of the BPM engine."""

from django.urls import path

from apps.bpm.api import views

BASE = "institutions/<slug:institution_slug>/bpm/"
DEFINITION = BASE + "definitions/<int:definition_id>/"
INSTANCE = BASE + "instances/<int:instance_id>/"
TASK = BASE + "tasks/<int:work_item_id>/"

urlpatterns = [
    path(BASE + "definitions/", views.DefinitionListApi.as_view(), name="api-bpm-definitions"),
    path(DEFINITION, views.DefinitionDetailApi.as_view(), name="api-bpm-definition"),
    path(DEFINITION + "instances/", views.DefinitionStartApi.as_view(), name="api-bpm-definition-start"),
    path(BASE + "instances/", views.InstanceListApi.as_view(), name="api-bpm-instances"),
    path(INSTANCE, views.InstanceDetailApi.as_view(), name="api-bpm-instance"),
    path(INSTANCE + "migrate/", views.InstanceMigrateApi.as_view(), name="api-bpm-instance-migrate"),
    path(BASE + "tasks/", views.QueueApi.as_view(), name="api-bpm-tasks"),
    path(TASK, views.WorkItemApi.as_view(), name="api-bpm-task"),
    path(TASK + "claim/", views.WorkItemClaimApi.as_view(), name="api-bpm-task-claim"),
    path(TASK + "complete/", views.WorkItemCompleteApi.as_view(), name="api-bpm-task-complete"),
    path(TASK + "reassign/", views.WorkItemReassignApi.as_view(), name="api-bpm-task-reassign"),
]
