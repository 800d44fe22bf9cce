"""/api/v1/institutions/<slug>/permits/…"""

from django.urls import path

from apps.permits.api import inspections, views

P = "institutions/<slug:institution_slug>/permits/"

urlpatterns = [
    path(f"{P}types/", views.PermitTypeListApi.as_view(), name="api-permit-types"),
    path(f"{P}types/<slug:type_slug>/", views.PermitTypeDetailApi.as_view(), name="api-permit-type"),
    path(f"{P}applications/", views.ApplicationListApi.as_view(), name="api-permit-applications"),
    path(f"{P}applications/<int:application_id>/", views.ApplicationDetailApi.as_view(), name="api-permit-application"),
    path(f"{P}applications/<int:application_id>/submit/", views.ApplicationSubmitApi.as_view()),
    path(f"{P}applications/<int:application_id>/withdraw/", views.ApplicationWithdrawApi.as_view()),
    path(f"{P}applications/<int:application_id>/answer/", views.ApplicationAnswerApi.as_view()),
    path(f"{P}applications/<int:application_id>/appeal/", views.ApplicationAppealApi.as_view()),
    path(f"{P}applications/<int:application_id>/decide/", views.ApplicationDecideApi.as_view()),
    path(
        f"{P}applications/<int:application_id>/request-information/", views.ApplicationRequestInformationApi.as_view()
    ),
    path(f"{P}permits/", views.PermitListApi.as_view(), name="api-permits"),
    path(f"{P}permits/<int:permit_id>/", views.PermitDetailApi.as_view(), name="api-permit"),
    path(f"{P}permits/<int:permit_id>/status/", views.PermitStatusApi.as_view(), name="api-permit-status"),
    path(f"{P}permits/<int:permit_id>/renew/", views.PermitRenewApi.as_view(), name="api-permit-renew"),
    # enforcement (api/inspections.py)
    path(
        f"{P}permits/<int:permit_id>/inspections/",
        inspections.PermitInspectionsApi.as_view(),
        name="api-permit-inspections",
    ),
    path(
        f"{P}permits/<int:permit_id>/violations/",
        inspections.PermitViolationsApi.as_view(),
        name="api-permit-violations",
    ),
    path(f"{P}inspections/", inspections.InspectionListApi.as_view(), name="api-inspections"),
    path(f"{P}inspections/<int:inspection_id>/", inspections.InspectionDetailApi.as_view(), name="api-inspection"),
    path(f"{P}inspections/<int:inspection_id>/assign/", inspections.InspectionAssignApi.as_view()),
    path(f"{P}inspections/<int:inspection_id>/report/", inspections.InspectionReportApi.as_view()),
    path(f"{P}inspections/<int:inspection_id>/cancel/", inspections.InspectionCancelApi.as_view()),
    path(f"{P}violations/", inspections.ViolationListApi.as_view(), name="api-violations"),
    path(f"{P}violations/<int:violation_id>/cure/", inspections.ViolationCureApi.as_view()),
    path(f"{P}violations/<int:violation_id>/waive/", inspections.ViolationWaiveApi.as_view()),
]
