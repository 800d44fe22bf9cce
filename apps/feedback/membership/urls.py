"""Council membership pages: members and terms, volunteers, draws by lot, sharing."""

from django.urls import path

from apps.feedback.membership import views

COUNCIL = "<int:council_id>/"

urlpatterns: list = [
    path(COUNCIL + "members/", views.member_list, name="members"),
    path(COUNCIL + "members/add/", views.member_add, name="member_add"),
    path(COUNCIL + "members/<int:member_id>/end/", views.member_end, name="member_end"),
    path(COUNCIL + "volunteers/", views.volunteer_list, name="volunteers"),
    path(COUNCIL + "volunteer/", views.volunteer, name="volunteer"),
    path(COUNCIL + "volunteer/withdraw/", views.volunteer_withdraw, name="volunteer_withdraw"),
    path(COUNCIL + "draws/", views.draw_list, name="draws"),
    path(COUNCIL + "draws/new/", views.draw_create, name="draw_create"),
    path(COUNCIL + "draws/<int:draw_id>/", views.draw_detail, name="draw"),
    path(COUNCIL + "shares/", views.share_list, name="shares"),
    path("shared/", views.shared_councils, name="shared"),
    path("shared/<int:share_id>/end/", views.share_end, name="share_end"),
]
