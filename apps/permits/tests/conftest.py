"""Fixtures of the permits tests: a permit type reviewed by red-team agents, councils, files."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.feedback import services as feedback_services
from apps.permits import services
from apps.tenancy.scope import institution_scope
from portal.testing import UserFactory, member

PDF = b"%PDF-1.4\n%test\n"
FIELDS = [
    {"name": "crowd_size", "label": "Expected crowd", "type": "number", "required": True},
    {"name": "fee_paid", "label": "Fee paid", "type": "boolean", "required": True},
    {"name": "event_date", "label": "Date", "type": "date", "required": False},
    {"name": "venue", "label": "Venue", "type": "choice", "required": True, "choices": ["park", "square"]},
]
ANSWERS = {"crowd_size": 120, "fee_paid": True, "event_date": "2027-06-01", "venue": "park"}


@pytest.fixture(autouse=True)
def _redteam_engine(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    yield
    redteam.forget_engine()


def pdf(name="plan.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def make_cluster(aurelia, ada, *, flag=False, name="Permit review"):
    agents = [
        redteam.make_agent(aurelia, ada, f"{name} approver A"),
        redteam.make_agent(aurelia, ada, f"{name} approver B"),
    ]
    if flag:
        agents.append(redteam.make_agent(aurelia, ada, f"{name} denier", decision="deny", confidence=0.6))
    with institution_scope(aurelia):
        return cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name=name,
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
            flagging_policy={"max_disagreement": 0.2} if flag else {},
        )


def make_type(aurelia, ada, *, cluster=None, slug="street-event", attachments=("site_plan",), **extra):
    with institution_scope(aurelia):
        return services.permit_type_create(
            institution=aurelia,
            actor=ada,
            name="Street event",
            slug=slug,
            description="A street party or market.",
            fields=FIELDS,
            attachments=list(attachments),
            fee_amount="25.00",
            fee_currency="EUR",
            validity_days=30,
            cluster=cluster,
            **({"process_key": "street_event_permit"} | extra),
        )


@pytest.fixture
def permit_type(aurelia, ada):
    return make_type(aurelia, ada, cluster=make_cluster(aurelia, ada))


@pytest.fixture
def plain_type(aurelia, ada):
    return make_type(aurelia, ada, slug="kiosk", attachments=())


@pytest.fixture
def council_members(aurelia):
    with institution_scope(aurelia):
        council = feedback_services.council_create(
            institution=aurelia,
            actor=None,
            name="Permits council",
            mandate_task_types=[redteam.TASK_TYPE],
            mandate_impacts=["medium", "high"],
            quorum=3,
            majority="simple",
            deadline_hours=48,
            escalation="institution_admin",
        )
        people = []
        for i in range(3):
            user = member(UserFactory(username=f"councillor{i}"), aurelia, "citizen")
            feedback_services.council_member_add(
                council=council,
                user=user,
                kind="citizen",
                term_start=dt.date.today() - dt.timedelta(days=1),
                term_end=dt.date.today() + dt.timedelta(days=365),
                actor=None,
            )
            people.append(user)
    return council, people
