"""Pages of the BPM engine, under /i/<institution_slug>/bpm/."""

from django.urls import path

from apps.bpm import views

app_name = "bpm"

DEFINITION = "definitions/<int:definition_id>/"

urlpatterns = [
    path("", views.definition_list, name="definitions"),
    path("definitions/upload/", views.definition_upload, name="upload"),
    path(DEFINITION, views.definition_detail, name="definition"),
    path(DEFINITION + "versions/<int:version_number>/bpmn/", views.version_bpmn, name="version_bpmn"),
    path("instances/", views.instance_list, name="instances"),
    path("instances/<int:instance_id>/", views.instance_detail, name="instance"),
    path("instances/<int:instance_id>/migrate/", views.instance_migrate, name="migrate"),
    path("queue/", views.queue, name="queue"),
    path("queue/<int:work_item_id>/", views.task_detail, name="task"),
    path("queue/<int:work_item_id>/claim/", views.task_claim, name="claim"),
    path("queue/<int:work_item_id>/reassign/", views.task_reassign, name="reassign"),
]
