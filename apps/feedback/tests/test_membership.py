"""Council membership: volunteers, draws by lot (recorded and verifiable), officials and
their seats, shared councils by threshold approval, the pages, the API, and the demo."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.feedback import draw as sortition
from apps.feedback import services
from apps.feedback.membership import services as membership
from apps.feedback.membership.models import CouncilShare
from apps.feedback.models import Council, CouncilDraw, CouncilMember, CouncilVolunteer, ReviewItem
from apps.tenancy.models import Membership, Role
from apps.tenancy.scope import institution_scope
from apps.trust import services as trust_services
from apps.trust.models import ActType, ProposalStatus, ThresholdProposal
from apps.trust.tests.factories import admin_of
from portal.errors import Conflict, PermissionDenied, ValidationFailed
from portal.testing import UserFactory, api_as, member

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
NEXT_YEAR = TODAY + dt.timedelta(days=365)
STRATA = [
    ("north", "18-44"),
    ("north", "18-44"),
    ("north", "45+"),
    ("south", "18-44"),
    ("south", "45+"),
    ("south", "45+"),
]


# a refused API call is itself audited (zero trust), node-wide: not a change to councils
NODE_EVENTS = ["identity.login", "identity.logout", "identity.api_forbidden", "identity.api_auth_failed"]


def _state() -> tuple:
    return (
        list(CouncilMember.all_institutions.values_list("pk", "ended_at")),
        list(CouncilVolunteer.all_institutions.values_list("pk", "strata", "withdrawn_at")),
        CouncilDraw.all_institutions.count(),
        CouncilShare.all_institutions.count(),
        AuditEvent.objects.exclude(action__in=NODE_EVENTS).count(),
    )


@pytest.fixture
def council(aurelia):
    with institution_scope(aurelia):
        return services.council_create(
            institution=aurelia,
            actor=None,
            name="Events council",
            mandate_task_types=["permits.event_review"],
            mandate_impacts=["medium", "high"],
            quorum=3,
            majority="simple",
            deadline_hours=72,
            escalation="institution_admin",
            strata_fields=["district", "age_band"],
        )


@pytest.fixture
def volunteers(aurelia, council):
    people = []
    with institution_scope(aurelia):
        for i, (district, age) in enumerate(STRATA):
            user = member(UserFactory(username=f"citizen{i}"), aurelia, Role.CITIZEN)
            membership.council_volunteer(council=council, user=user, strata={"district": district, "age_band": age})
            people.append(user)
    return people


def _draw(council, actor, seats=3, seed=None, start=TODAY, end=NEXT_YEAR):
    with institution_scope(council.institution):
        return membership.council_draw(
            council=council, actor=actor, seats=seats, term_start=start, term_end=end, seed=seed
        )


# --- volunteers ---------------------------------------------------------------------------


def test_a_member_volunteers_with_the_councils_strata_and_may_withdraw(council, bob):
    with institution_scope(council.institution):
        volunteer = membership.council_volunteer(
            council=council, user=bob, strata={"district": " North ", "age_band": "18-44"}
        )
        assert volunteer.strata == {"district": "north", "age_band": "18-44"}
        membership.council_volunteer_withdraw(council=council, user=bob)
        volunteer.refresh_from_db()
        assert volunteer.withdrawn_at is not None
        with pytest.raises(Conflict):
            membership.council_volunteer_withdraw(council=council, user=bob)
        membership.council_volunteer(council=council, user=bob, strata={"district": "south", "age_band": "45+"})
    volunteer.refresh_from_db()
    assert volunteer.withdrawn_at is None and volunteer.strata["district"] == "south"
    events = AuditEvent.objects.filter(action__startswith="feedback.volunteer", target_id=str(volunteer.pk))
    actions = list(events.order_by("pk").values_list("action", flat=True))
    assert actions == ["feedback.volunteer", "feedback.volunteer_withdraw", "feedback.volunteer_update"]


def test_bad_strata_and_outsiders_change_nothing(council, bob, charlie):
    before = _state()
    for strata in ({"district": "north"}, {"district": "north", "age_band": "18-44", "income": "high"}, ["north"]):
        with institution_scope(council.institution), pytest.raises(ValidationFailed):
            membership.council_volunteer(council=council, user=bob, strata=strata)
    with institution_scope(council.institution), pytest.raises(PermissionDenied):
        membership.council_volunteer(council=council, user=charlie, strata={"district": "n", "age_band": "1"})
    assert _state() == before


# --- draws --------------------------------------------------------------------------------


def test_a_draw_is_recorded_verifiable_and_seats_the_citizens_drawn(council, volunteers, ada):
    record = _draw(council, ada, seats=3)
    assert record.algorithm == sortition.ALGORITHM and len(record.seed) == 64  # secrets.token_hex(32)
    assert [c["ref"] for c in record.candidates] == [
        f"V-{v.pk}" for v in CouncilVolunteer.all_institutions.order_by("pk")
    ]
    # north 18-44: 2, north 45+: 1, south 18-44: 1, south 45+: 2 -> 1, 0.5, 0.5, 1 -> tie to the smaller key
    assert record.quotas == {'["north","18-44"]': 1, '["north","45+"]': 1, '["south","18-44"]': 0, '["south","45+"]': 1}
    assert sortition.verify(record)
    seats = CouncilMember.all_institutions.filter(council=council)
    assert seats.count() == 3 and {s.kind for s in seats} == {"citizen"} and {s.draw_id for s in seats} == {record.pk}
    drawn = {f"V-{CouncilVolunteer.all_institutions.get(council=council, user=s.user).pk}" for s in seats}
    assert drawn == set(record.selected)
    assert all(Membership.objects.filter(user=s.user, role=Role.COUNCIL_MEMBER).exists() for s in seats)
    event = AuditEvent.objects.get(action="feedback.council_draw", target_id=str(record.pk))
    assert event.changes["seed"] == record.seed and event.changes["selected"] == record.selected
    assert AuditEvent.objects.filter(action="feedback.council_member_add").count() == 3


def test_a_given_seed_is_recorded_and_a_sitting_person_is_not_drawn_again(council, volunteers, ada):
    first = _draw(council, ada, seats=2, seed="lottery-2026-11-25")
    assert first.seed == "lottery-2026-11-25"
    second = _draw(council, ada, seats=4, seed="lottery-2026-11-26")
    first_refs = set(first.selected)
    assert not first_refs & {c["ref"] for c in second.candidates}
    assert len(second.candidates) == 4 and CouncilMember.all_institutions.filter(council=council).count() == 6
    # a later term is another matter: everyone may be drawn again
    later = NEXT_YEAR + dt.timedelta(days=1)
    third = _draw(council, ada, seats=1, start=later, end=later + dt.timedelta(days=30))
    assert len(third.candidates) == 6


def test_impossible_or_unauthorised_draws_change_nothing(council, volunteers, ada, alice, bob):
    before = _state()
    for kwargs in ({"seats": 7}, {"seats": 0}, {"seed": "has spaces"}, {"start": NEXT_YEAR, "end": TODAY}):
        with pytest.raises(ValidationFailed):
            _draw(council, ada, **kwargs)
    for outsider in (alice, bob):
        with pytest.raises(PermissionDenied):
            _draw(council, outsider)
    assert _state() == before


def test_the_verify_command_recomputes_and_fails_on_a_changed_record(council, volunteers, ada):
    record = _draw(council, ada, seats=3, seed="published")
    out = StringIO()
    call_command("council_draw_verify", str(record.pk), stdout=out)
    assert "OK" in out.getvalue() and " ".join(record.selected) in out.getvalue()
    CouncilDraw.all_institutions.filter(pk=record.pk).update(seed="another")
    with pytest.raises(CommandError) as failure:
        call_command("council_draw_verify", str(record.pk), stdout=StringIO())
    assert failure.value.returncode == 1 and "MISMATCH" in str(failure.value)


# --- sharing by threshold approval --------------------------------------------------------


@pytest.fixture
def share_policy(aurelia, borealis):
    return trust_services.threshold_policy_create(
        name="Sharing councils", act_type=ActType.SHARE_COUNCIL, k=2, authorities=[aurelia, borealis]
    )


def _sign(proposal, institution, admin):
    with institution_scope(institution):
        return trust_services.threshold_proposal_sign(proposal=proposal, authority=institution, actor=admin)


def test_a_council_is_shared_once_both_institutions_signed(council, ada, borealis, share_policy):
    beatrice = admin_of(borealis, "beatrice")
    proposal = membership.council_share_propose(council=council, shared_with_slug="borealis", actor=ada)
    assert proposal.payload == {
        "council": council.pk,
        "council_name": council.name,
        "owner": "aurelia",
        "shared_with": "borealis",
    }
    with pytest.raises(Conflict):  # one pending proposal per council and institution
        membership.council_share_propose(council=council, shared_with_slug="borealis", actor=ada)
    _sign(proposal, council.institution, ada)
    assert not CouncilShare.all_institutions.exists()
    _sign(proposal, borealis, beatrice)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    share = CouncilShare.all_institutions.get()
    assert (share.institution, share.council, share.shared_with) == (council.institution, council, borealis)
    assert AuditEvent.objects.filter(action="feedback.council_share", target_id=str(share.pk)).exists()
    from apps.feedback.membership import selectors

    assert list(selectors.councils_shared_with(institution=borealis)) == [share]
    assert not selectors.councils_shared_with(institution=council.institution).exists()
    # either side may end it, with a reason
    with institution_scope(borealis), pytest.raises(ValidationFailed):
        membership.council_share_end(share=share, actor=beatrice, reason=" ", institution=borealis)
    with institution_scope(borealis):
        membership.council_share_end(share=share, actor=beatrice, reason="We have our own now.", institution=borealis)
    share.refresh_from_db()
    assert share.ended_at is not None


def test_without_the_served_institutions_signature_nothing_is_shared(aurelia, borealis, council, ada):
    trust_services.threshold_policy_create(
        name="Sharing councils", act_type=ActType.SHARE_COUNCIL, k=1, authorities=[aurelia, borealis]
    )
    proposal = membership.council_share_propose(council=council, shared_with_slug="borealis", actor=ada)
    events = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        _sign(proposal, aurelia, ada)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PROPOSED and not proposal.signatures.exists()
    assert not CouncilShare.all_institutions.exists() and AuditEvent.objects.count() == events


def test_a_share_proposal_is_checked(council, ada, aurelia, share_policy, borealis, charlie):
    for slug in ("aurelia", "nowhere", ""):
        with pytest.raises(ValidationFailed):
            membership.council_share_propose(council=council, shared_with_slug=slug, actor=ada)
    with institution_scope(borealis), pytest.raises(ValidationFailed):
        # from Borealis's scope, Aurelia's council is not Borealis's to share
        trust_services.threshold_proposal_create(
            institution=borealis,
            act_type=ActType.SHARE_COUNCIL,
            payload={"council": council.pk, "shared_with": "aurelia"},
            actor=admin_of(borealis, "beatrice"),
        )
    assert not ThresholdProposal.all_institutions.exists()


# --- pages --------------------------------------------------------------------------------


def _base(council) -> str:
    return f"/i/aurelia/councils/{council.pk}/"


def test_members_page_shows_kind_and_term_and_admins_seat_and_end(client, council, ada, alice, bob):
    client.force_login(bob)
    assert client.get(_base(council) + "members/").status_code == 200
    assert client.get(_base(council) + "members/add/").status_code == 403
    client.force_login(ada)
    before = _state()
    response = client.post(
        _base(council) + "members/add/",
        {"username": "charlie-nobody", "term_start": TODAY.isoformat(), "term_end": NEXT_YEAR.isoformat()},
    )
    assert response.status_code == 400 and _state() == before
    response = client.post(
        _base(council) + "members/add/",
        {"username": "alice", "term_start": TODAY.isoformat(), "term_end": NEXT_YEAR.isoformat()},
    )
    assert response.status_code == 302
    seat = CouncilMember.all_institutions.get(council=council, user=alice)
    assert seat.kind == "official"
    html = client.get(_base(council) + "members/").content.decode()
    assert "Alice" in html and "Official" in html and NEXT_YEAR.isoformat() in html
    end_url = _base(council) + f"members/{seat.pk}/end/"
    before = _state()
    assert client.post(end_url, {"reason": ""}).status_code == 400 and _state() == before
    assert client.post(end_url, {"reason": "Moved to another office."}).status_code == 302
    seat.refresh_from_db()
    assert seat.ended_at is not None
    assert "Past members" in client.get(_base(council) + "members/").content.decode()


def test_volunteering_and_who_sees_the_volunteers(client, council, volunteers, bob, ada):
    client.force_login(bob)
    response = client.post(_base(council) + "volunteer/", {"district": "East", "age_band": "18-44"})
    assert response.status_code == 302
    assert CouncilVolunteer.all_institutions.get(council=council, user=bob).strata["district"] == "east"
    html = client.get(_base(council) + "volunteers/").content.decode()
    assert "citizen0" not in html and "east" in html  # counts per stratum, no names
    assert client.post(_base(council) + "volunteer/", {"district": "", "age_band": "x"}).status_code == 400
    client.force_login(ada)
    html = client.get(_base(council) + "volunteers/").content.decode()
    assert "citizen0" in html and "V-" in html


def test_the_draw_form_and_the_draw_pages_show_the_rerun(client, council, volunteers, ada, bob):
    client.force_login(bob)
    assert client.get(_base(council) + "draws/new/").status_code == 403
    client.force_login(ada)
    before = _state()
    data = {"seats": "9", "term_start": TODAY.isoformat(), "term_end": NEXT_YEAR.isoformat(), "seed": ""}
    assert client.post(_base(council) + "draws/new/", data).status_code == 400 and _state() == before
    response = client.post(_base(council) + "draws/new/", {**data, "seats": "2", "seed": "public-lottery-42"})
    record = CouncilDraw.all_institutions.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/draws/{record.pk}/")
    html = client.get(_base(council) + f"draws/{record.pk}/").content.decode()
    assert "public-lottery-42" in html and "Verified:" in html and record.selected[0] in html
    # anyone, signed in or not, re-runs it on the public page, which shows no name
    client.logout()
    public = client.get(f"/councils/draws/{record.pk}/")
    html = public.content.decode()
    assert public.status_code == 200 and "Verified:" in html and record.selected[0] in html
    assert not any(f"citizen{i}" in html for i in range(len(volunteers)))
    assert client.get("/councils/draws/999999/").status_code == 404
    CouncilDraw.all_institutions.filter(pk=record.pk).update(selected=list(reversed(record.selected)))
    assert "Does not verify" in client.get(f"/councils/draws/{record.pk}/").content.decode()


def test_a_council_without_strata_takes_volunteers_and_draws_from_one_pool(client, aurelia, ada, bob):
    with institution_scope(aurelia):
        plain = services.council_create(
            institution=aurelia,
            actor=None,
            name="Budget council",
            mandate_task_types=["*"],
            mandate_impacts=["high"],
            quorum=1,
            majority="simple",
            deadline_hours=24,
            escalation="institution_admin",
        )
    client.force_login(bob)
    assert client.post(_base(plain) + "volunteer/", {}).status_code == 302
    assert "Everyone" in client.get(_base(plain) + "volunteers/").content.decode()
    record = _draw(plain, ada, seats=1)
    assert record.quotas == {"[]": 1} and record.selected == [f"V-{CouncilVolunteer.all_institutions.get().pk}"]


def test_proposing_to_share_from_the_page(client, council, ada, alice, share_policy):
    client.force_login(alice)
    assert client.get(_base(council) + "shares/").status_code == 403
    client.force_login(ada)
    assert client.post(_base(council) + "shares/", {"council": council.pk, "shared_with": "aurelia"}).status_code == 400
    response = client.post(_base(council) + "shares/", {"council": council.pk, "shared_with": "borealis"})
    proposal = ThresholdProposal.all_institutions.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/trust/proposals/{proposal.pk}/")
    assert proposal.act_type == ActType.SHARE_COUNCIL and proposal.payload["council"] == council.pk
    assert client.get("/i/aurelia/councils/shared/").status_code == 200


def test_lists_pin_their_queries(client, council, volunteers, ada, django_assert_max_num_queries):
    for i in range(3):
        later = NEXT_YEAR + dt.timedelta(days=400 * i + 1)
        _draw(council, ada, seats=2, start=later, end=later + dt.timedelta(days=30))
    api = api_as(ada)
    with django_assert_max_num_queries(14):
        assert len(api.get(_api(council) + "members/").json()["results"]) == 6
    with django_assert_max_num_queries(14):
        assert len(api.get(_api(council) + "draws/").json()["results"]) == 3
    client.force_login(ada)
    with django_assert_max_num_queries(20):
        assert client.get(_base(council) + "members/").status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(_base(council) + "volunteers/").status_code == 200


# --- API ----------------------------------------------------------------------------------


def _api(council) -> str:
    return f"/api/v1/institutions/aurelia/councils/{council.pk}/"


def test_api_draws_roles_and_bad_input(council, volunteers, ada, alice, bob, charlie):
    body = {"seats": 2, "term_start": TODAY.isoformat(), "term_end": NEXT_YEAR.isoformat()}
    before = _state()
    assert api_as(bob).post(_api(council) + "draws/", body, format="json").status_code == 403
    response = api_as(ada).post(_api(council) + "draws/", {**body, "seats": 50}, format="json")
    assert response.status_code == 400 and response["Content-Type"].startswith("application/problem+json")
    assert api_as(charlie).post(_api(council) + "draws/", body, format="json").status_code == 404
    assert _state() == before
    response = api_as(ada).post(_api(council) + "draws/", {**body, "seed": "abc"}, format="json")
    assert response.status_code == 201 and response.json()["verified"] and response.json()["seed"] == "abc"
    draw_id = response.json()["id"]
    listed = api_as(bob).get(_api(council) + "draws/").json()["results"]
    assert [d["id"] for d in listed] == [draw_id] and listed[0]["verified"]
    public = api_as(charlie).get(f"/api/v1/councils/draws/{draw_id}/")
    assert public.status_code == 200 and public.json()["selected"] == response.json()["selected"]
    members = api_as(bob).get(_api(council) + "members/").json()["results"]
    assert len(members) == 2 and {m["kind"] for m in members} == {"citizen"}


def test_api_officials_seats_and_volunteering(council, ada, alice, bob, charlie):
    body = {"username": "alice", "term_start": TODAY.isoformat(), "term_end": NEXT_YEAR.isoformat()}
    before = _state()
    assert api_as(alice).post(_api(council) + "members/", body, format="json").status_code == 403
    bad = api_as(ada).post(_api(council) + "members/", {**body, "username": "charlie"}, format="json")
    assert bad.status_code == 400 and "user" in bad.json()["errors"]
    assert _state() == before
    seat = api_as(ada).post(_api(council) + "members/", body, format="json").json()
    assert seat["kind"] == "official" and seat["sitting"]
    end = _api(council) + f"members/{seat['id']}/end/"
    assert api_as(ada).post(end, {"reason": ""}, format="json").status_code == 400
    assert api_as(charlie).post(end, {"reason": "x"}, format="json").status_code == 404
    assert api_as(ada).post(end, {"reason": "Left."}, format="json").json()["sitting"] is False

    mine = api_as(bob).put(
        _api(council) + "volunteer/", {"strata": {"district": "north", "age_band": "18-44"}}, format="json"
    )
    assert mine.status_code == 200 and mine.json()["volunteering"] and mine.json()["pseudonym"].startswith("V-")
    assert api_as(bob).get(_api(council) + "volunteers/").status_code == 403  # names: overseers only
    assert api_as(ada).get(_api(council) + "volunteers/").json()["results"][0]["username"] == "bob"
    counts = api_as(bob).get(_api(council) + "volunteers/counts/").json()
    assert counts == [{"strata": {"district": "north", "age_band": "18-44"}, "volunteers": 1}]
    assert api_as(bob).delete(_api(council) + "volunteer/").json()["volunteering"] is False
    assert api_as(bob).delete(_api(council) + "volunteer/").status_code == 409


def test_api_share_proposal(council, ada, bob, share_policy):
    url = _api(council) + "shares/"
    assert api_as(bob).post(url, {"shared_with": "borealis"}, format="json").status_code == 403
    response = api_as(ada).post(url, {"shared_with": "borealis"}, format="json")
    assert response.status_code == 201 and response.json()["act_type"] == "share_council"
    assert api_as(ada).get(url).json() == []
    assert api_as(ada).get("/api/v1/institutions/aurelia/councils/shared/").json() == []


# --- the cross-institution sweep over these routes -----------------------------------------


def test_another_institution_gets_404_on_every_membership_route(db, aurelia, borealis, ada, alice, charlie, client):
    """The portal-wide sweep (tests/test_cross_institution.py) covers these routes too; this
    runs it over the membership routes alone, so they stay covered whatever else is added."""
    from apps.audit.services import audit_append, audit_tree_head_sign, log_verification_request
    from apps.notifications.services import notification_send
    from tests import test_cross_institution as sweep

    with institution_scope(aurelia):
        notification = notification_send(institution=aurelia, recipient=ada, title="Sweep fixture")
        from django.db import transaction

        with transaction.atomic():
            event = audit_append(institution=aurelia, actor=ada, action="tests.sweep", target=aurelia)
        verification = log_verification_request(institution=aurelia, actor=ada)
    audit_tree_head_sign(force=True)
    world = sweep.SweepWorld(
        aurelia, borealis, ada, alice, charlie, Membership.objects.get(user=alice, institution=aurelia),
        event, notification, verification,
    )  # fmt: skip
    mine = {"members", "member_add", "member_end", "volunteers", "volunteer", "volunteer_withdraw", "draws"}
    mine |= {"draw_create", "draw", "shares", "shared", "share_end"}
    routes = [
        (route, params, name)
        for route, params, name in sweep._scoped_routes()
        if name in mine or name.startswith("api-council-") or name == "api-councils-shared"
    ]
    assert len(routes) >= 20
    client.force_login(charlie)
    for route, params, _name in routes:
        path = sweep._path_for(route, {p: sweep.OBJECT_MAKERS[p](world) for p in params})
        before = sweep._database_fingerprint()
        for method in sweep.METHODS:
            response = getattr(client, method)(path, data={}, content_type="application/json")
            assert response.status_code == 404, (method, path, response.status_code)
        assert sweep._database_fingerprint() == before, path
    client.force_login(ada)
    for route, params, _name in routes:
        path = sweep._path_for(route, {p: sweep.OBJECT_MAKERS[p](world) for p in params})
        assert client.get(path).status_code != 404, path


# --- the demo -----------------------------------------------------------------------------


def test_the_demo_seeds_the_events_council_with_drawn_citizens_and_a_queue(settings):
    settings.DEBUG = True  # seed_demo only seeds development nodes
    call_command("seed_demo", stdout=StringIO())
    from apps.feedback import demo

    council = Council.all_institutions.get(name=demo.COUNCIL_NAME)
    assert council.institution.slug == "aurelia" and council.covers(task_type=demo.TASK_TYPE, impact="high")
    seats = CouncilMember.all_institutions.filter(council=council).select_related("user")
    assert {(s.user.username, s.kind) for s in seats} == {
        ("carmen", "official"),
        ("jonas", "citizen"),
        ("emil", "citizen"),
        ("gustav", "citizen"),
    }
    record = CouncilDraw.all_institutions.get(council=council)
    assert record.seed == demo.DEMO_SEED and sortition.verify(record) and len(record.candidates) == 6
    items = ReviewItem.all_institutions.filter(council=council)
    assert items.exists() and all(item.status == "open" for item in items)
    before = _state(), ReviewItem.all_institutions.count()
    call_command("seed_demo", stdout=StringIO())
    assert (_state(), ReviewItem.all_institutions.count()) == before  # no row, no audit event
