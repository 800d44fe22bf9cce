from django.contrib import admin

from apps.feedback.models import Council, CouncilDraw, CouncilMember, ReviewItem, Vote
from portal.admin import ReadOnlyAdmin

for model in (Council, CouncilMember, CouncilDraw, ReviewItem, Vote):
    admin.site.register(model, ReadOnlyAdmin)
