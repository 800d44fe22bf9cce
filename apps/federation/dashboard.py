"""The federation panel on the dashboard of administrators and auditors: links to outbox and inbox."""

from apps.tenancy.dashboard import register_panel
from apps.tenancy.models import Role

for _role in (Role.INSTITUTION_ADMIN, Role.AUDITOR):
    register_panel(_role, "federation/panels/federation.html", order=60)
