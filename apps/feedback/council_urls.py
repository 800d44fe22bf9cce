"""Council pages: list, mandate, queue, review of an item, verdicts (owned by the review UI).

`urlpatterns` sit under /i/<institution_slug>/councils/ (members only); `public_urlpatterns`
under /councils/ (anyone: the pseudonymised public record).
"""

from django.urls import path

from apps.feedback import views

COUNCIL = "<int:council_id>/"
ITEM = COUNCIL + "items/<int:item_id>/"

urlpatterns: list = [
    path("", views.council_list, name="list"),
    path("new/", views.council_create, name="create"),
    path(COUNCIL, views.council_queue, name="queue"),
    path(COUNCIL + "edit/", views.council_edit, name="edit"),
    path(ITEM, views.item_detail, name="item"),
    path(ITEM + "vote/", views.item_vote, name="vote"),
    path(ITEM + "recuse/", views.item_recuse, name="recuse"),
    path(ITEM + "apply-again/", views.item_apply_again, name="apply_again"),
]

# the slug is not `institution_slug`: the tenancy middleware must not ask for membership here
public_urlpatterns: list = [
    path("<slug:slug>/<int:council_id>/record/", views.public_record, name="record"),
]
