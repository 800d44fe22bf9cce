"""The public page of a draw by lot, under /councils/draws/: pseudonyms only, for anyone to re-run."""

from django.urls import path

from apps.feedback.membership import views

app_name = "council_draws"

urlpatterns = [
    path("<int:draw_id>/", views.public_draw, name="public"),
]
