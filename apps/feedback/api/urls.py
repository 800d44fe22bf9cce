"""/api/v1/ routes of councils. Each part of the app adds its own list."""

from apps.feedback.api.councils import urlpatterns as council_routes
from apps.feedback.membership.api import urlpatterns as membership_routes

urlpatterns = [*council_routes, *membership_routes]
