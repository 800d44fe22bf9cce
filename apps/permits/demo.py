"""Demo data of permits: Aurelia's three permit types on their BPMN processes, and applications and
permits in every state to explore.

- **Street vending** (`fixtures/permits/street_vending.bpmn`): two rules agents; their unflagged
  approvals stand, so most permits are issued with nobody involved. Anything else waits for a civil
  servant (sam).
- **Event** (`event_permit.bpmn`): the agents' "Event permit review" cluster (apps/agents/clusters/demo.py).
  It flags crowds of 1,000 or more for the Events council (apps/feedback/demo.py), which also hears
  appeals. Smaller events are confirmed by a civil servant.
- **Building** (`building_permit.bpmn`): a civil servant's pre-check, the agents, a civil servant's
  confirmation, then inspections whose risk another cluster rates. Each inspection checks the type's
  conditions, and an unmet condition is a violation to cure.

Everything goes through the services that the pages and the API use. Celery tasks run inline while
seeding, so every application reaches the state a worker would bring it to. Two things need time to
pass: an overdue violation and an expired permit. The demo runs the beat sweeps as of the day after
the deadline. The audit log records both as the node's own acts, like any other sweep.

Idempotent: the processes, agents, clusters and types are made when missing; the applications once.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Count

from apps.agents import services as agent_services
from apps.agents.clusters import services as cluster_services
from apps.agents.models import Agent, AgentStatus, Cluster
from apps.bpm import services as bpm_services
from apps.bpm.models import ProcessDefinition, WorkItem, WorkItemStatus
from apps.feedback import services as feedback_services
from apps.feedback.models import Council, ItemStatus, ReviewItem
from apps.permits import inspections, review, services
from apps.permits.models import ApplicationStatus, Inspection, InspectionStatus, Permit, PermitApplication, PermitType
from apps.tenancy.scope import institution_scope

PROCESSES = Path(settings.BASE_DIR) / "fixtures" / "permits"
PROCESS_FILES = {
    "street_vending_permit": "street_vending.bpmn",
    "event_permit": "event_permit.bpmn",
    "building_permit": "building_permit.bpmn",
}
# a one-page PDF: the attachments of the demo's applications
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)

VENDING_TASK = "permits.street_vending_review"
BUILDING_TASK = "permits.building_review"
RISK_TASK = "permits.inspection_risk"
EVENT_CLUSTER = "Event permit review"  # apps/agents/clusters/demo.py
EVENTS_COUNCIL = "Events council"  # apps/feedback/demo.py
ACCOUNTABLE = "Head of the permits office, City of Aurelia"


def _rule(rule_id: str, expression: str, decision: str, explanation: str) -> dict:
    return {"id": rule_id, "version": "1", "expression": expression, "decision": decision, "explanation": explanation}


def _rules(rule_set: str, rules: list[dict], default: str, explanation: str) -> dict:
    return {
        "rule_set": rule_set,
        "version": "1",
        "rules": rules,
        "default_decision": default,
        "default_explanation": explanation,
    }


# One rules agent per permit type: the bylaw's articles in one rule set, each finding citing its article
# (two agents checking different articles would outvote each other: a refusal must not be a tie).
AGENTS = {
    VENDING_TASK: [
        (
            "rules",
            "Street vending rules",
            "Applies the street trading bylaw: the fee, where and what may be sold, and for how long.",
            _rules(
                "street-trading",
                [
                    _rule(
                        "food-harbour",
                        "goods == 'hot food' and pitch == 'harbour'",
                        "deny",
                        "Hot food is not sold on the harbour front (fire safety, art. 6).",
                    ),
                    _rule("too-long", "days > 180", "deny", "A pitch is let for at most 180 days a year (art. 4)."),
                    _rule("fee", "not fee_paid", "request_information", "The permit fee has not been paid (art. 2)."),
                ],
                "approve",
                "The fee is paid, and the pitch and the goods are allowed by the street trading bylaw.",
            ),
            "Street trading bylaw of the City of Aurelia, art. 2-6",
        ),
    ],
    BUILDING_TASK: [
        (
            "rules",
            "Local plan rules",
            "Applies the local plan and the building code: the fee, the height and the floor area allowed.",
            _rules(
                "local-plan",
                [
                    _rule("height", "storeys > 6", "deny", "The local plan allows at most six storeys (art. 31)."),
                    _rule(
                        "area",
                        "floor_area > 5000",
                        "deny",
                        "Buildings over 5,000 m² need a zoning plan first (art. 34).",
                    ),
                    _rule(
                        "fee",
                        "not fee_paid",
                        "request_information",
                        "The permit fee has not been paid (building code, art. 12).",
                    ),
                ],
                "approve",
                "The fee is paid and the project fits the local plan.",
            ),
            "Local plan of the City of Aurelia, art. 31-34; building code, art. 12",
        ),
    ],
    RISK_TASK: [
        (
            "rules",
            "Inspection risk rules",
            "Rates how soon a building site should be inspected, from its size and its record.",
            _rules(
                "inspection-risk",
                [
                    _rule(
                        "record",
                        "permit.violations.unresolved > 0",
                        "high",
                        "The site has a violation not yet cured.",
                    ),
                    _rule(
                        "large",
                        "storeys >= 4 and permit.violations.unresolved == 0",
                        "medium",
                        "Sites of four storeys or more are inspected sooner.",
                    ),
                ],
                "low",
                "A small site with a clean record.",
            ),
            "Inspection policy of the City of Aurelia, 2026",
        ),
    ],
}
CLUSTERS = [
    # name, task type, allowed decisions
    ("Street vending review", VENDING_TASK, ["approve", "deny", "request_information"]),
    ("Building permit review", BUILDING_TASK, ["approve", "deny", "request_information"]),
    ("Building inspection risk", RISK_TASK, ["high", "medium", "low"]),
]


def _field(name: str, label: str, kind: str, *, required: bool = True, choices=None) -> dict:
    field = {"name": name, "label": label, "type": kind, "required": required}
    if choices:
        field["choices"] = choices
    return field


TYPES = {
    "street-vending": {
        "name": "Street vending",
        "description": "Sell from a stall or a cart on one of the city's pitches. Most permits are issued at once.",
        "fields": [
            _field("pitch", "Pitch", "choice", choices=["market square", "harbour", "old town", "station"]),
            _field("goods", "What you sell", "choice", choices=["flowers", "crafts", "hot food", "books"]),
            _field("days", "Number of days", "number"),
            _field("fee_paid", "I have paid the fee", "boolean"),
        ],
        "attachments": [],
        "fee_amount": "40.00",
        "validity_days": 90,
        "process_key": "street_vending_permit",
        "conditions": ["The stall stays within its marked pitch.", "The pitch is left clean every evening."],
        "cure_days": 3,
    },
    "event": {
        "name": "Event",
        "description": (
            "A concert, a market or a gathering on public ground. The Events council hears events of 1,000 "
            "people or more."
        ),
        "fields": [
            _field("zone", "Zone", "choice", choices=["park", "commercial", "residential", "historic_centre"]),
            _field("crowd_size", "Expected crowd", "number"),
            _field("duration_hours", "Duration (hours)", "number"),
            _field("amplified_sound", "Amplified sound", "boolean", required=False),
            _field("prior_violations", "Violations of the organiser in the last three years", "number"),
            _field("fee_paid", "I have paid the fee", "boolean"),
            _field("summary", "The event in one sentence", "text"),
        ],
        "attachments": ["site_plan"],
        "fee_amount": "120.00",
        "validity_days": 30,
        "process_key": "event_permit",
        "conditions": [
            "The crowd stays under the number applied for.",
            "Amplified sound stops at 22:00.",
            "Emergency exits are kept clear.",
        ],
        "cure_days": 1,
    },
    "building": {
        "name": "Building",
        "description": (
            "Build, extend or demolish. A civil servant pre-checks the plans; the works are inspected at the "
            "foundations, in heritage zones, and when they are complete."
        ),
        "fields": [
            _field("parcel", "Cadastral parcel", "text"),
            _field("works", "Works", "choice", choices=["new building", "extension", "demolition"]),
            _field("storeys", "Storeys", "number"),
            _field("floor_area", "Floor area (m²)", "number"),
            _field("fee_paid", "I have paid the fee", "boolean"),
        ],
        "attachments": ["plans"],
        "fee_amount": "850.00",
        "validity_days": 730,
        "process_key": "building_permit",
        "conditions": [
            "The works follow the approved plans.",
            "The site is fenced and signposted.",
            "Construction waste is sorted and removed.",
        ],
        "cure_days": 14,
    },
}


@contextmanager
def _tasks_inline():
    """Run queued Celery tasks in this process while seeding, as a worker would later."""
    from portal.celery import app

    before = app.conf.task_always_eager
    # two lines per task would drown the demo's summary
    loggers = [logging.getLogger(name) for name in ("celery.app.trace", "django_structlog.celery")]
    levels = [logger.level for logger in loggers]
    app.conf.task_always_eager = True
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        app.conf.task_always_eager = before
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def seed_demo(*, federation, stdout) -> None:
    aurelia, adrian = federation.institutions.get("aurelia"), federation.users.get("adrian")
    if aurelia is None or adrian is None or not all(federation.users.get(n) for n in ("sam", "clara", "carmen")):
        return
    with institution_scope(aurelia), _tasks_inline():
        for key, file_name in PROCESS_FILES.items():
            if not ProcessDefinition.objects.filter(key=key).exists():
                bpm_services.definition_upload(
                    institution=aurelia,
                    actor=adrian,
                    file_name=file_name,
                    content=(PROCESSES / file_name).read_bytes(),
                )
        clusters = {name: _cluster(name, task, decisions, federation) for name, task, decisions in CLUSTERS}
        reviewers = {
            "street-vending": {"cluster": clusters["Street vending review"]},
            "event": {
                "cluster": Cluster.objects.filter(name=EVENT_CLUSTER).first(),
                "council": Council.objects.filter(name=EVENTS_COUNCIL).first(),
            },
            "building": {
                "cluster": clusters["Building permit review"],
                "inspection_cluster": clusters["Building inspection risk"],
            },
        }
        types = {}
        for slug, spec in TYPES.items():
            types[slug] = PermitType.objects.filter(slug=slug).first() or services.permit_type_create(
                institution=aurelia, actor=adrian, slug=slug, fee_currency="EUR", **spec, **reviewers[slug]
            )
        told = PermitApplication.objects.filter(permit_type__in=types.values()).exists()
        if not told and transaction.get_connection().in_atomic_block:
            # the story needs its tasks to run after each commit, as a worker's would: a caller's open
            # transaction (a test's) would hold them all back, so it gets the types without applications
            stdout.write("Permits: applications skipped (seeding inside a transaction).")
            return
        if not told:
            _Story(federation, types).tell()
        counts = dict(PermitApplication.objects.order_by().values_list("status").annotate(n=Count("pk")))
    stdout.write(
        "Permits: street vending, event and building on their BPMN processes; applications "
        + ", ".join(f"{label} {counts[status]}" for status, label in ApplicationStatus.choices if counts.get(status))
        + "."
    )


def _cluster(name: str, task_type: str, decisions: list[str], federation) -> Cluster:
    from apps.agents.demo import _certification_proposed, _certify

    aurelia, adrian = federation.institutions["aurelia"], federation.users["adrian"]
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is not None:
        return cluster
    stages = []
    for stage, agent_name, purpose, config, source in AGENTS[task_type]:
        agent = Agent.objects.filter(name=agent_name).first()
        if agent is None:
            agent = agent_services.agent_register(
                institution=aurelia,
                actor=adrian,
                name=agent_name,
                purpose=purpose,
                capabilities=[task_type],
                autonomy_level=1,
                engine="rules",
                config=config,
            )
            agent_services.model_card_update(
                agent=agent,
                actor=adrian,
                purpose=purpose,
                training_sources=[{"name": source, "provenance": "Bylaw text, rules written by the permits office"}],
                evaluation_metrics={},
                known_limits="Reads only the structured fields of the application; a person confirms refusals.",
                accountable_person=ACCOUNTABLE,
                public=True,
            )
        if agent.status == AgentStatus.DRAFT and not _certification_proposed(agent):
            _certify(agent, federation=federation)
        stages.append({"name": stage, "agents": [str(agent.uid)]})
    return cluster_services.cluster_create(
        institution=aurelia,
        actor=adrian,
        name=name,
        task_type=task_type,
        stages=stages,
        allowed_decisions=decisions,
    )


def event_answers(**fields) -> dict:
    """An event application's answers; the summary in the words of the precedent agent's corpus."""
    from apps.agents.clusters.demo import summary

    answers = {
        "zone": "park",
        "crowd_size": 150,
        "duration_hours": 2,
        "amplified_sound": False,
        "prior_violations": 0,
        "fee_paid": True,
        **fields,
    }
    answers["summary"] = summary(answers)
    return answers


class _Story:
    """The applications of the demo, each taken as far as its state needs, by the people who would."""

    def __init__(self, federation, types: dict[str, PermitType]):
        self.users = federation.users
        self.admin, self.servant = federation.users["adrian"], federation.users["sam"]
        self.types = types

    def tell(self) -> None:
        self.street_vending()
        self.events()
        self.building()

    def _apply(self, slug: str, username: str, answers: dict, *, submit: bool = True) -> PermitApplication:
        permit_type = self.types[slug]
        files = {
            name: SimpleUploadedFile(f"{name}.pdf", DEMO_PDF, "application/pdf") for name in permit_type.attachments
        }
        application = services.application_create(
            permit_type=permit_type, applicant=self.users[username], data=answers, files=files, submit=submit
        )
        application.refresh_from_db()
        return application

    def _decide(self, application: PermitApplication, *, approve: bool, reason: str = "") -> PermitApplication:
        application.refresh_from_db()
        services.application_decide(application=application, actor=self.servant, approve=approve, reason=reason)
        application.refresh_from_db()
        return application

    @staticmethod
    def _permit(application: PermitApplication) -> Permit:
        return Permit.objects.get(application=application)

    # --- street vending: mostly automatic --------------------------------------------------------------

    def street_vending(self) -> None:
        vending = "street-vending"
        self._apply(vending, "clara", {"pitch": "market square", "goods": "flowers", "days": 90, "fee_paid": True})
        self._apply(vending, "dora", {"pitch": "old town", "goods": "crafts", "days": 30, "fee_paid": False})
        self._apply(
            vending, "fatima", {"pitch": "station", "goods": "books", "days": 60, "fee_paid": True}, submit=False
        )
        withdrawn = self._apply(
            vending, "hana", {"pitch": "old town", "goods": "flowers", "days": 20, "fee_paid": True}, submit=False
        )
        services.application_withdraw(application=withdrawn, actor=self.users["hana"])
        refused = self._apply(
            vending, "gustav", {"pitch": "harbour", "goods": "hot food", "days": 60, "fee_paid": True}
        )
        self._decide(
            refused, approve=False, reason="Hot food is not sold on the harbour front; the station pitch is free."
        )
        revoked = self._permit(
            self._apply(vending, "emil", {"pitch": "station", "goods": "crafts", "days": 90, "fee_paid": True})
        )
        services.permit_revoke(
            permit=revoked, actor=self.admin, reason="The stall was moved off its pitch onto the fire lane three times."
        )
        expired = self._permit(
            self._apply(vending, "jonas", {"pitch": "market square", "goods": "books", "days": 90, "fee_paid": True})
        )
        # time passes: what the beat's expiry sweep does the day after the permit's end
        services.permit_expire(permit=expired, now=expired.valid_until + dt.timedelta(days=1))

    # --- events: a civil servant, or the council above 1,000 people ---------------------------------------

    def events(self) -> None:
        small = self._apply("event", "clara", event_answers())
        self._decide(small, approve=True, reason="A small concert in the park; the agents agree.")
        self._apply(
            "event",
            "clara",
            event_answers(zone="historic_centre", crowd_size=2500, duration_hours=6, amplified_sound=True),
        )
        large = self._apply("event", "dora", event_answers(zone="commercial", crowd_size=1200, duration_hours=4))
        self._council_decides(
            large,
            "approve",
            [
                "The organiser's plan keeps the exits clear.",
                "The commercial zone can take the crowd on a Saturday.",
                "Same view: the stewards are enough for 1,200 people.",
            ],
        )
        asked = self._apply("event", "fatima", event_answers(zone="commercial", crowd_size=300, duration_hours=3))
        services.application_request_information(
            application=asked, actor=self.servant, question="Where will the stage stand? Mark it on the site plan."
        )
        # the agents disagree on a loud street party: the council hears it and refuses
        refused = self._apply(
            "event",
            "hana",
            event_answers(
                zone="residential", crowd_size=400, duration_hours=5, amplified_sound=True, prior_violations=2
            ),
        )
        self._council_decides(
            refused,
            "deny",
            [
                "Five hours of amplified sound in a residential street is too much.",
                "The organiser was fined twice in three years.",
                "Agreed: a shorter party without amplification could be approved.",
            ],
        )
        # a civil servant overturns the agents; the organiser appeals to the Events council
        appealed = self._apply("event", "dora", event_answers(crowd_size=150, duration_hours=2))
        if appealed.status == ApplicationStatus.AWAITING_CONFIRMATION:
            self._decide(appealed, approve=False, reason="The park is booked for the city marathon that Sunday.")
            review.application_appeal(
                application=appealed,
                person=self.users["dora"],
                grounds="The marathon passes the park in the morning; our concert starts at 16:00 on the far lawn.",
            )
        # a small picnic concert waits in the civil servants' queue
        self._apply("event", "jonas", event_answers(zone="park", crowd_size=80, duration_hours=2))

    def _council_decides(self, application: PermitApplication, decision: str, reasons: list[str]) -> None:
        """The Events council's sitting members decide the flagged case, each vote with its reason: they
        approve the agents' proposal when it is `decision`, otherwise amend it to `decision`."""
        from apps.agents.review import SUBJECT_TYPE

        application.refresh_from_db()
        item = ReviewItem.objects.filter(subject_type=SUBJECT_TYPE, subject_id=str(application.cluster_run_id)).first()
        if application.status != ApplicationStatus.IN_COUNCIL or item is None:
            return
        vote = (
            {"choice": "approve"}
            if item.proposed_decision == decision
            else {
                "choice": "amend",
                "amended_decision": decision,
            }
        )
        for member, reason in zip(feedback_services.sitting_members(council=item.council), reasons, strict=False):
            item.refresh_from_db()
            if item.status != ItemStatus.OPEN:
                break
            feedback_services.review_vote(item=item, user=member.user, reason=reason, **vote)

    # --- building: pre-check, review, inspections, violations ---------------------------------------------

    def building(self) -> None:
        self._apply("building", "clara", self._building(storeys=2, floor_area=180))  # waits for the pre-check
        confirming = self._apply("building", "jonas", self._building(storeys=3, floor_area=420, works="extension"))
        self._precheck(confirming, heritage=False)
        # issued; the foundations inspection found a violation still to cure
        open_violation = self._issued_building("hana", storeys=4, floor_area=900, heritage=True)
        self._inspect(open_violation, unmet={1: "No fence on the street side; children walk in after school."})
        # a violation left uncured: the permit is suspended
        suspended = self._issued_building("emil", storeys=2, floor_area=300, heritage=False)
        self._inspect(suspended, unmet={2: "Mixed waste dumped behind the site."})
        self._overdue(suspended)
        # suspended, then cured: reinstated
        reinstated = self._issued_building("gustav", storeys=5, floor_area=1600, heritage=False)
        self._inspect(reinstated, unmet={0: "A fourth storey balcony not in the approved plans."})
        self._overdue(reinstated)
        for violation in inspections.violations_of_permit(permit=reinstated):
            inspections.violation_cure(
                violation=violation, actor=self.servant, resolution="The balcony was removed; checked on site."
            )

    @staticmethod
    def _building(*, storeys: int, floor_area: int, works: str = "new building") -> dict:
        return {
            "parcel": f"AUR-{storeys}{floor_area}",
            "works": works,
            "storeys": storeys,
            "floor_area": floor_area,
            "fee_paid": True,
        }

    def _precheck(self, application: PermitApplication, *, heritage: bool) -> None:
        item = WorkItem.objects.get(instance=application.process_instance, element_id="precheck")
        if item.status == WorkItemStatus.OPEN:
            bpm_services.work_item_complete(
                item=item,
                actor=self.servant,
                values={"heritage_zone": "true" if heritage else "false", "precheck_note": "Plans complete."},
            )

    def _issued_building(self, username: str, *, storeys: int, floor_area: int, heritage: bool) -> Permit:
        application = self._apply("building", username, self._building(storeys=storeys, floor_area=floor_area))
        self._precheck(application, heritage=heritage)
        self._decide(application, approve=True, reason="The plans fit the local plan; the agents agree.")
        return self._permit(application)

    def _inspect(self, permit: Permit, *, unmet: dict[int, str]) -> None:
        """The inspector reports the scheduled inspection (the process's foundations visit)."""
        inspection = Inspection.objects.filter(permit=permit, status=InspectionStatus.SCHEDULED).order_by("pk").first()
        if inspection is None:
            return
        findings = [
            {"condition": condition, "met": index not in unmet, "note": unmet.get(index, "")}
            for index, condition in enumerate(permit.permit_type.conditions)
        ]
        inspections.inspection_report(
            inspection=inspection, actor=self.servant, findings=findings, notes="Visited with the site manager."
        )

    @staticmethod
    def _overdue(permit: Permit) -> None:
        # time passes: what the beat's overdue sweep does the day after each deadline
        for violation in inspections.violations_of_permit(permit=permit):
            inspections.violation_mark_overdue(violation=violation, today=violation.cure_by + dt.timedelta(days=1))
