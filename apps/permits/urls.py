"""Permit pages under /i/<slug>/permits/."""

from django.urls import path

from apps.permits import inspection_views, views

app_name = "permits"

urlpatterns = [
    path("", views.home, name="home"),
    path("types/", views.type_list, name="type_list"),
    path("types/new/", views.type_create, name="type_create"),
    path("types/<slug:type_slug>/edit/", views.type_edit, name="type_edit"),
    path("types/<slug:type_slug>/apply/", views.apply, name="apply"),
    path("applications/", views.application_list, name="application_list"),
    path("applications/<int:application_id>/", views.application_detail, name="application"),
    path("applications/<int:application_id>/withdraw/", views.application_withdraw, name="withdraw"),
    path("applications/<int:application_id>/answer/", views.application_answer, name="answer"),
    path("applications/<int:application_id>/appeal/", views.application_appeal, name="appeal"),
    path("applications/<int:application_id>/decide/", views.application_decide, name="decide"),
    path(
        "applications/<int:application_id>/request-information/",
        views.application_request_information,
        name="request_information",
    ),
    path(
        "applications/<int:application_id>/attachments/<slug:attachment_name>/",
        views.application_attachment,
        name="attachment",
    ),
    path("permits/", views.permit_list, name="permit_list"),
    path("permits/<int:permit_id>/", views.permit_detail, name="permit"),
    path("permits/<int:permit_id>/status/", views.permit_status, name="permit_status"),
    path("permits/<int:permit_id>/renew/", views.permit_renew, name="permit_renew"),
    # enforcement: inspections and violations (inspection_views.py)
    path(
        "permits/<int:permit_id>/inspections/",
        inspection_views.permit_inspection_schedule,
        name="inspection_schedule",
    ),
    path("inspections/", inspection_views.inspection_list, name="inspection_list"),
    path("inspections/<int:inspection_id>/", inspection_views.inspection_detail, name="inspection"),
    path("inspections/<int:inspection_id>/report/", inspection_views.inspection_report, name="inspection_report"),
    path("inspections/<int:inspection_id>/assign/", inspection_views.inspection_assign, name="inspection_assign"),
    path("inspections/<int:inspection_id>/cancel/", inspection_views.inspection_cancel, name="inspection_cancel"),
    path("violations/<int:violation_id>/cure/", inspection_views.violation_cure, name="violation_cure"),
    path("violations/<int:violation_id>/waive/", inspection_views.violation_waive, name="violation_waive"),
]
