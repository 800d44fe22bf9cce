from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("<int:sequence>/", views.event_detail, name="event-detail"),
    path("tree-heads/", views.tree_heads, name="tree-heads"),
    path("verifications/", views.verification_list, name="verification-list"),
    path("verifications/start/", views.verification_start, name="verification-start"),
    path("verifications/<int:verification_id>/", views.verification_detail, name="verification-detail"),
]
