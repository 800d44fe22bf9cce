"""The cross-institution sweep: every route, every method, as a member of another institution.

It walks the URL configuration, so routes added by later work are covered
automatically: a route that takes `institution_slug` is requested by charlie (a member
of Borealis only) with Aurelia's slug and Aurelia's objects, with every HTTP method,
and must answer 404 with nothing changed in the database. A route without
`institution_slug` must be listed in NOT_INSTITUTION_SCOPED with the reason it is safe,
and a URL parameter naming an object must have a maker in OBJECT_MAKERS; otherwise the
test fails and says what to add.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from apps.agents.learning.testing import sweep_candidate
from apps.agents.negotiation.testing import sweep_announcement, sweep_received_call
from apps.audit.canonical import canonical_json, instance_state
from apps.audit.models import AuditEvent
from apps.audit.services import audit_append, audit_tree_head_sign, log_verification_request
from apps.bpm.tests import sweep as bpm_sweep
from apps.federation.tests import sweep as federation_sweep
from apps.feedback.membership import testing as council_sweep
from apps.identity.tests.sweep import sweep_credential, sweep_signing_key
from apps.identity.tests.sweep_residence import sweep_residence_request
from apps.notifications.services import notification_send
from apps.permits.tests import sweep as permits_sweep
from apps.tenancy.models import Membership
from apps.tenancy.scope import institution_scope
from apps.trust.tests.factories import sweep_proposal

METHODS = ["get", "post", "put", "patch", "delete"]

# Routes that do not belong to one institution, each with why that is safe.
NOT_INSTITUTION_SCOPED: dict[str, str] = {
    r"^$": "home: redirects to the user's own institutions",
    r"^i/$": "institution switcher: lists or redirects to the caller's own institutions, 404 for others",
    r"^healthz$|^readyz$|^metrics$": "operations probes, no tenant data",
    r"^accounts/": "allauth: the signed-in person's own account",
    r"^i18n/": "language switch",
    r"^admin/": "Django admin: staff only, node operators",
    r"^api/schema/|^api/docs/": "OpenAPI schema and its docs page",
    r"^api/v1/me/$": "the caller's own account and memberships",
    r"^api/v1/auth/": "API token issue and revoke for the caller",
    r"^api/v1/institutions/$": "lists only the caller's own institutions",
    r"^api/v1/audit/": "signed tree heads and proofs: hashes only, public by design",
    r"^api/v1/federation/inbox$": "peers deliver signed envelopes: the signature is the authentication and "
    "the recipient institution comes from the verified envelope; it answers only accepted or why not",
    r"^static/|^media/": "static files",
    r"^\.well-known/": "public discovery documents",
    r"^__debug__/": "development tooling",
    r"^institutions/[^/]+/did\.json$": "institutions' public DID documents (did:web): public keys only",
    r"^credentials/verify/$|^api/v1/credentials/verify$": "public credential verifier: checks what is posted; "
    "?id= shows one credential by its unguessable id, the capability its holder's QR code carries",
    r"^credentials/status/": "published Bitstring Status Lists: public by design (W3C), bits only",
    r"^api/v1/trust/verify/$": "re-checks the posted export of a threshold proposal; reads no database",
    r"^residence/apply/$": "the applicant is not yet a member; the request is created in the chosen "
    "municipality's scope by the service",
    r"^residence/$|^residence/<int:request_id>/withdraw/$": "the signed-in applicant's own residence requests "
    "(selected by applicant; anyone else's id is 404)",
    r"^wallet/|^api/v1/wallet/": "only the signed-in person's own credentials",
    r"^agents/<uuid:agent_uid>/model-card/$": "public model cards: only cards their institution marked public "
    "(citizens read the cards of agents that decided on their case); any other id is 404",
    r"^councils/draws/|^api/v1/councils/draws/": "public record of a council's draw by lot, for anyone to "
    "re-run: seed, strata and pseudonyms (V-<n>), never a name",
    r"^councils/<slug:slug>/<int:council_id>/record/$": "public record of a council: anyone reads the "
    "pseudonymised verdicts of the councils their institution publishes (no names, no record fields); a "
    "council without a public record is 404",
    r"^o/": "OAuth2/OIDC provider endpoints: the client's own tokens; tokens are bound to one institution "
    "(apps/identity/tests/test_oauth*.py proves another institution's routes answer 404)",
}


@dataclass
class SweepWorld:
    aurelia: object
    borealis: object
    ada: object
    alice: object
    charlie: object
    membership: Membership
    event: AuditEvent
    notification: object
    verification: object


# URL parameter -> how to get the value of an Aurelia object for it. Later work adds
# its own parameters here (a permit id, a council id, ...).
OBJECT_MAKERS: dict[str, Callable[[SweepWorld], object]] = {
    "institution_slug": lambda w: w.aurelia.slug,
    "membership_id": lambda w: w.membership.pk,
    "sequence": lambda w: w.event.sequence,
    "notification_id": lambda w: w.notification.pk,
    "tree_size": lambda w: 1,
    "verification_id": lambda w: w.verification.pk,
    "outbox_envelope_id": lambda w: federation_sweep.outbox_envelope(w).envelope_id,
    "inbox_envelope_id": lambda w: federation_sweep.inbox_envelope(w).envelope_id,
    "proposal_id": lambda w: sweep_proposal(w).pk,
    "integrator_id": lambda w: _aurelia_integrator(w).pk,
    "credential_id": lambda w: sweep_credential(w).uuid,
    "residence_request_id": lambda w: sweep_residence_request(w).pk,
    "signing_key_id": lambda w: sweep_signing_key(w).pk,
    "agent_uid": lambda w: _aurelia_agent(w).uid,
    "cluster_id": lambda w: _aurelia_run(w).cluster_id,
    "run_id": lambda w: _aurelia_run(w).pk,
    "announcement_uid": lambda w: sweep_announcement(w).uid,
    "call_uid": lambda w: sweep_received_call(w).call_uid,
    "candidate_id": lambda w: sweep_candidate(w, agent=_aurelia_agent(w)).pk,
    "council_id": lambda w: council_sweep.sweep_council(w).pk,
    "member_id": lambda w: council_sweep.sweep_member(w).pk,
    "draw_id": lambda w: council_sweep.sweep_draw(w).pk,
    "share_id": lambda w: council_sweep.sweep_share(w).pk,
    "item_id": lambda w: _aurelia_review_item(w).pk,
    "definition_id": lambda w: bpm_sweep.sweep_instance(w).version.definition_id,
    "version_number": lambda w: bpm_sweep.sweep_instance(w).version.number,
    "instance_id": lambda w: bpm_sweep.sweep_instance(w).pk,
    "work_item_id": lambda w: bpm_sweep.sweep_work_item(w).pk,
    "type_slug": lambda w: permits_sweep.sweep_permit_type(w).slug,
    "application_id": lambda w: permits_sweep.sweep_application(w).pk,
    "attachment_name": lambda w: permits_sweep.SWEEP_ATTACHMENT,
    "permit_id": lambda w: permits_sweep.sweep_permit(w).pk,
    "inspection_id": lambda w: permits_sweep.sweep_inspection(w).pk,
    "violation_id": lambda w: permits_sweep.sweep_violation(w).pk,
}


def _aurelia_review_item(world: SweepWorld):
    """An open case (the sweep run) on the sweep council's queue, made once per world."""
    if "review_item" not in world.__dict__:
        from apps.feedback import services
        from apps.feedback.models import Council

        run = _aurelia_run(world)
        # on the council the sweep's council_id names, so that the item's URLs exist for members
        council = Council.all_institutions.get(pk=OBJECT_MAKERS["council_id"](world))
        with institution_scope(world.aurelia):
            world.__dict__["review_item"] = services.review_item_submit(
                institution=world.aurelia,
                kind="flagged_decision",
                subject_type="agents.cluster_run",
                subject_id=run.pk,
                task_type=run.task_type,
                impact="high",
                question="Sweep question?",
                proposed_decision="approve",
                allowed_decisions=["approve"],
                case={"record": {"age": 30}},
                council=council,
            )
    return world.__dict__["review_item"]


def _aurelia_run(world: SweepWorld):
    """A finished cluster run of Aurelia (with its cluster), made once per world."""
    if "cluster_run" not in world.__dict__:
        from apps.agents.clusters import services

        agent = _aurelia_agent(world)
        with institution_scope(world.aurelia):
            cluster = services.cluster_create(
                institution=world.aurelia,
                actor=world.ada,
                name="Sweep cluster",
                task_type="permits.intake",
                stages=[{"name": "intake", "agents": [str(agent.uid)]}],
                allowed_decisions=["approve"],
            )
            world.__dict__["cluster_run"] = services.cluster_run_start(
                # about ada too, so that her control GET of "my decisions" finds it
                cluster=cluster,
                record={"age": 30},
                documents={},
                actor=world.ada,
                concerns=world.ada,
            )
    return world.__dict__["cluster_run"]


def _aurelia_agent(world: SweepWorld):
    """A draft agent of Aurelia, made once per world."""
    if "agent" not in world.__dict__:
        from apps.agents.services import agent_register

        with institution_scope(world.aurelia):
            world.__dict__["agent"] = agent_register(
                institution=world.aurelia,
                actor=world.ada,
                name="Sweep agent",
                purpose="Sweep",
                capabilities=["permits.intake"],
                engine="rules",
            )
    return world.__dict__["agent"]


def _aurelia_integrator(world: SweepWorld):
    """An integrator client of Aurelia, made once per world."""
    if "integrator" not in world.__dict__:
        from apps.identity.oauth.services import integrator_client_create

        with institution_scope(world.aurelia):
            world.__dict__["integrator"] = integrator_client_create(
                institution=world.aurelia,
                actor=world.ada,
                name="Sweep client",
                client_type="confidential",
                grant_type="client-credentials",
                redirect_uris=[],
                scopes=["tenancy:read"],
            ).client
    return world.__dict__["integrator"]


def _walk(patterns, prefix="", converters=None):
    """Yield (route string, parameter names, url name) for every leaf URL pattern."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        names = dict(converters or {})
        names.update(getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route, names)
        elif isinstance(entry, URLPattern):
            yield route, set(names), entry.name


def _all_routes():
    return sorted(set((r, frozenset(p), n or "") for r, p, n in _walk(get_resolver().url_patterns)))


def _path_for(route: str, values: dict[str, object]) -> str:
    route = route.lstrip("^").rstrip("$").replace("\\Z", "")

    def fill(match):
        return str(values[match.group(1)])

    path = re.sub(r"<(?:\w+:)?(\w+)>", fill, route)
    return "/" + path


def _database_fingerprint() -> str:
    """A digest of every row of every model, sessions excluded (logging in writes them)."""
    digest = hashlib.sha256()
    for model in sorted(apps.get_models(), key=lambda m: m._meta.label):
        if model._meta.app_label in {"sessions"} or not model._meta.managed:
            continue
        for row in model._base_manager.order_by("pk").iterator():
            digest.update(model._meta.label.encode())
            digest.update(canonical_json(instance_state(row)))
    return digest.hexdigest()


@pytest.fixture
def world(db, aurelia, borealis, ada, alice, charlie) -> SweepWorld:
    with institution_scope(aurelia):
        notification = notification_send(institution=aurelia, recipient=ada, title="Sweep fixture")
    from django.db import transaction

    with transaction.atomic():
        event = audit_append(institution=aurelia, actor=ada, action="tests.sweep", target=aurelia)
    audit_tree_head_sign(force=True)
    event.refresh_from_db()
    membership = Membership.objects.get(user=alice, institution=aurelia)
    with institution_scope(aurelia):
        verification = log_verification_request(institution=aurelia, actor=ada)
    return SweepWorld(aurelia, borealis, ada, alice, charlie, membership, event, notification, verification)


def test_every_route_is_institution_scoped_or_explained():
    unexplained = [
        route
        for route, params, _name in _all_routes()
        if "institution_slug" not in params
        and not any(re.search(rx, route.lstrip("^")) for rx in NOT_INSTITUTION_SCOPED)
    ]
    assert not unexplained, (
        "These routes are neither under an institution nor listed in NOT_INSTITUTION_SCOPED "
        f"with the reason they are safe: {unexplained}"
    )


def test_every_object_parameter_has_a_maker():
    missing = sorted(
        {(p, route) for route, params, _ in _all_routes() if "institution_slug" in params for p in params}
        - {(p, route) for route, params, _ in _all_routes() for p in params if p in OBJECT_MAKERS}
    )
    assert not missing, f"Add makers to OBJECT_MAKERS for these URL parameters: {missing}"


def _scoped_routes():
    return [(route, params, name) for route, params, name in _all_routes() if "institution_slug" in params]


def test_the_sweep_covers_the_routes_of_this_foundation():
    """Guard against a sweep that silently covers nothing."""
    names = {name for _, _, name in _scoped_routes()}
    assert {"api-institution", "api-members", "api-member", "api-audit-events", "api-notifications"} <= names


def _leaks(client, world) -> list[str]:
    client.force_login(world.charlie)
    leaks = []
    for route, params, name in _scoped_routes():
        path = _path_for(route, {p: OBJECT_MAKERS[p](world) for p in params})
        before = _database_fingerprint()
        for method in METHODS:
            response = getattr(client, method)(path, data={}, content_type="application/json")
            if response.status_code != 404:
                leaks.append(f"{method.upper()} {path} ({name}) -> {response.status_code}")
        if _database_fingerprint() != before:
            leaks.append(f"{path} ({name}) changed the database")
    return leaks


@pytest.mark.django_db
def test_another_institution_gets_404_everywhere_and_nothing_changes(world, client):
    leaks = _leaks(client, world)
    assert not leaks, "Cross-institution leaks:\n" + "\n".join(leaks)


@pytest.mark.django_db
@pytest.mark.urls("tests.leaky_urls")
def test_the_sweep_catches_a_leaking_route(world, client):
    """A view that forgets the membership check, and one that writes, are both reported."""
    leaks = _leaks(client, world)
    assert any("leaky-read" in leak and "GET" in leak for leak in leaks), leaks
    assert any("leaky-write" in leak and "changed the database" in leak for leak in leaks), leaks


@pytest.mark.django_db
def test_api_404s_are_problem_documents_for_token_callers(world, api_client):
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=world.charlie)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    for route, params, _name in _scoped_routes():
        if not route.startswith("api/"):
            continue
        path = _path_for(route, {p: OBJECT_MAKERS[p](world) for p in params})
        response = api_client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert response["Content-Type"].startswith("application/problem+json"), path
        assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_members_reach_the_same_urls(world, client):
    """Control: the URLs the sweep builds exist, so charlie's 404s are not typos."""
    client.force_login(world.ada)
    for route, params, name in _scoped_routes():
        path = _path_for(route, {p: OBJECT_MAKERS[p](world) for p in params})
        response = client.get(path)
        assert response.status_code != 404, f"GET {path} ({name}) is 404 for a member"
