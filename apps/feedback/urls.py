"""Pages of councils, under /i/<institution_slug>/councils/. Each part of the app adds its own list."""

from apps.feedback.council_urls import urlpatterns as council_pages
from apps.feedback.membership.urls import urlpatterns as membership_pages

app_name = "feedback"

urlpatterns = [*council_pages, *membership_pages]
