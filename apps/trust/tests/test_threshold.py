"""Threshold approvals: k-of-n signatures from distinct authorities, the effect, the verifier."""

from __future__ import annotations

import copy

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.identity import keys
from apps.identity.models import KeyOwnerType, SigningKey
from apps.tenancy.models import Institution
from apps.tenancy.scope import institution_scope
from apps.trust import document as doc
from apps.trust import selectors, services
from apps.trust.effects import ActEffect, effect_for, register_effect
from apps.trust.models import ActType, ProposalStatus, ThresholdProposal, ThresholdSignature
from apps.trust.tests.factories import admission_proposal
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def _events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _state(proposal):
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    return (
        proposal.status,
        proposal.effect_result,
        list(ThresholdSignature.objects.filter(proposal=proposal).values_list("pk", "signature")),
        AuditEvent.objects.count(),
        Institution.objects.count(),
    )


@pytest.fixture
def proposal(policy, aurelia, ada):
    return admission_proposal(institution=aurelia, actor=ada)


def test_proposal_shows_exactly_what_is_signed(proposal, aurelia, borealis, ministry):
    document = selectors.proposal_document(proposal=proposal)
    assert proposal.canonical.encode() == doc.canonical_bytes(document)
    assert proposal.digest == doc.digest_of(proposal.canonical.encode())
    assert document["payload"] == {"name": "City of Caldera", "slug": "city-of-caldera", "kind": "municipality"}
    assert document["policy"]["k"] == 2
    assert [a["id"] for a in document["policy"]["authorities"]] == sorted([aurelia.did, borealis.did, ministry.did])
    assert document["proposer"]["id"] == aurelia.did
    assert _events("trust.proposal.create") == 1


def test_k_minus_one_signatures_are_not_effective(proposal, aurelia, ada):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    assert proposal.status == ProposalStatus.PROPOSED
    assert not Institution.objects.filter(slug="city-of-caldera").exists()
    assert selectors.proposal_evaluation(proposal=proposal).count == 1
    assert _events("trust.proposal.sign") == 1
    assert _events("trust.proposal.approve") == 0


def test_k_signatures_make_it_effective_and_the_effect_runs_once(
    proposal, aurelia, borealis, ministry, ada, beatrice, ines
):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    with institution_scope(borealis):  # as in a request of Borealis
        services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    assert proposal.status == ProposalStatus.APPROVED
    assert proposal.decided_at is not None
    admitted = Institution.objects.get(slug="city-of-caldera")
    assert proposal.effect_result == {"institution_id": admitted.pk, "slug": "city-of-caldera", "did": admitted.did}
    assert _events("trust.proposal.approve") == 1
    assert AuditEvent.objects.filter(action="tenancy.institution.create", target_id=str(admitted.pk)).count() == 1
    # The third authority comes too late: nothing changes, the effect does not run again.
    before = _state(proposal)
    with pytest.raises(InvalidTransition):
        services.threshold_proposal_sign(proposal=proposal, authority=ministry, actor=ines)
    assert _state(proposal) == before
    assert Institution.objects.filter(slug="city-of-caldera").count() == 1


def test_institution_keys_are_created_once_and_used(proposal, aurelia, ada):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    key = SigningKey.objects.get(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(aurelia.pk))
    signature = ThresholdSignature.objects.get(proposal=proposal)
    assert signature.key_id == key.key_id
    assert keys.verify(key.public_key, signature.signature, doc.signing_message(proposal.canonical.encode()))


def test_a_non_authority_cannot_sign_and_its_signature_would_not_count(proposal, nordwind, nils, aurelia, ada):
    before = _state(proposal)
    with pytest.raises(PermissionDenied):
        services.threshold_proposal_sign(proposal=proposal, authority=nordwind, actor=nils)
    assert _state(proposal) == before
    # Forged into the database with a genuine key of Nordwind, it still does not count.
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    _insert_signature(proposal, nordwind)
    evaluation = selectors.proposal_evaluation(proposal=proposal)
    assert evaluation.count == 1
    assert [c.reason for c in evaluation.checks] == [doc.VALID, doc.NOT_AN_AUTHORITY]


def _insert_signature(proposal, institution, *, tamper=False):
    from apps.identity.services import signing_key_create, signing_key_sign

    with transaction.atomic():
        key = signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk))
    signature = signing_key_sign(key=key, message=doc.signing_message(proposal.canonical.encode()))
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    return ThresholdSignature.objects.create(
        proposal=proposal, authority=institution, key_id=key.key_id, public_key=key.public_key, signature=signature
    )


def test_a_duplicate_authority_signs_once_only(proposal, aurelia, ada):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    before = _state(proposal)
    with pytest.raises(Conflict):
        services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    assert _state(proposal) == before


def test_a_duplicate_authority_counts_once_in_the_evaluation(proposal, aurelia, ada):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    export = selectors.proposal_export(proposal=proposal)
    export["signatures"] = export["signatures"] * 2
    report = doc.verify_export(export)
    assert report.valid_signatures == 1
    assert [s["reason"] for s in report.signatures] == [doc.VALID, doc.DUPLICATE_AUTHORITY]
    assert not report.effective


def test_a_tampered_signature_does_not_count(proposal, aurelia, borealis, ada, beatrice):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    stored = ThresholdSignature.objects.get(proposal=proposal)
    ThresholdSignature.objects.filter(pk=stored.pk).update(
        signature=bytes([bytes(stored.signature)[0] ^ 1]) + bytes(stored.signature)[1:]
    )
    services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    assert proposal.status == ProposalStatus.PROPOSED  # one valid of two
    assert not Institution.objects.filter(slug="city-of-caldera").exists()
    checks = selectors.proposal_evaluation(proposal=proposal).checks
    assert [c.reason for c in checks] == [doc.BAD_SIGNATURE, doc.VALID]


def test_a_signature_with_a_key_the_node_does_not_know_does_not_count(proposal, aurelia, borealis, ada, beatrice):
    """Replacing both the key and the signature in the database is caught by the node's key list."""
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    raw_private, raw_public = keys.new_ed25519()
    ThresholdSignature.objects.filter(proposal=proposal).update(
        key_id=keys.key_fingerprint(raw_public),
        public_key=raw_public,
        signature=keys.sign(raw_private, doc.signing_message(proposal.canonical.encode())),
    )
    assert [c.reason for c in selectors.proposal_evaluation(proposal=proposal).checks] == [doc.UNTRUSTED_KEY]


def test_the_independent_verifier_agrees(proposal, aurelia, borealis, ada, beatrice):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    partial = doc.verify_export(selectors.proposal_export(proposal=proposal))
    assert partial.document_intact and not partial.effective and partial.valid_signatures == 1
    services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    export = selectors.proposal_export(proposal=proposal)
    report = doc.verify_export(export)
    assert report.effective and report.document_intact
    assert report.digest == proposal.digest and report.valid_signatures == 2 and report.k == 2
    assert report.effective == (proposal.status == ProposalStatus.APPROVED)
    # With the node's keys pinned it agrees as well.
    assert doc.verify_export(export, trusted_keys=selectors.trusted_keys_for(proposal=proposal)).effective


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: e["document"]["payload"].update(slug="another-city"),
        lambda e: e["document"]["policy"].update(k=1),
        lambda e: e["document"]["policy"]["authorities"].append({"id": "did:web:evil", "name": "Evil"}),
        lambda e: e.update(digest="0" * 64),
        lambda e: e["signatures"][0].update(signature=e["signatures"][1]["signature"]),
        lambda e: e["signatures"][0].update(authority=e["signatures"][1]["authority"]),
        lambda e: e["signatures"][0].update(public_key="not base64!"),
        lambda e: e.update(signatures="nope"),
        lambda e: e.update(format="something-else"),
    ],
)
def test_the_independent_verifier_refuses_a_tampered_export(proposal, aurelia, borealis, ada, beatrice, tamper):
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    export = selectors.proposal_export(proposal=ThresholdProposal.all_institutions.get(pk=proposal.pk))
    tampered = copy.deepcopy(export)
    tamper(tampered)
    report = doc.verify_export(tampered)
    assert not report.effective
    assert report.problems


def test_the_verifier_never_raises_on_garbage():
    for garbage in [None, [], "x", {"format": doc.EXPORT_FORMAT}, {"format": doc.EXPORT_FORMAT, "document": {}}]:
        report = doc.verify_export(garbage)
        assert not report.effective and report.problems


def test_only_an_admin_proposes_and_bad_input_changes_nothing(policy, aurelia, alice, ada):
    count = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        admission_proposal(institution=aurelia, actor=alice)
    for payload in [
        {"name": "", "slug": "x", "kind": "municipality"},
        {"name": "X", "slug": "Bad Slug!", "kind": "municipality"},
        {"name": "X", "slug": "x", "kind": "castle"},
        ["not", "an", "object"],
        {"name": "X", "slug": "x", "kind": "ngo", "extra": 1},
    ]:
        with pytest.raises(ValidationFailed):
            services.threshold_proposal_create(
                institution=aurelia, act_type=ActType.ADMIT_INSTITUTION, payload=payload, actor=ada
            )
    with pytest.raises(Conflict):  # the institution exists already
        services.threshold_proposal_create(
            institution=aurelia,
            act_type=ActType.ADMIT_INSTITUTION,
            payload={"name": "Borealis again", "slug": "aurelia", "kind": "municipality"},
            actor=ada,
        )
    with pytest.raises(ValidationFailed):  # no effect registered for it
        services.threshold_proposal_create(institution=aurelia, act_type=ActType.CERTIFY_AGENT, payload={}, actor=ada)
    assert not ThresholdProposal.all_institutions.exists()
    assert AuditEvent.objects.count() == count


def test_a_civil_servant_of_an_authority_cannot_sign(proposal, aurelia, alice):
    before = _state(proposal)
    with pytest.raises(PermissionDenied):
        services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=alice)
    assert _state(proposal) == before


def test_withdraw_and_expiry_close_the_proposal(proposal, aurelia, borealis, ada, beatrice):
    with pytest.raises(PermissionDenied):  # Borealis is an authority, not the proposer
        services.threshold_proposal_withdraw(proposal=proposal, actor=beatrice)
    services.threshold_proposal_withdraw(proposal=proposal, actor=ada, reason="Wrong name")
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    assert proposal.status == ProposalStatus.REJECTED and proposal.reason == "Wrong name"
    assert _events("trust.proposal.withdraw") == 1
    with pytest.raises(InvalidTransition):
        services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    with pytest.raises(InvalidTransition):
        proposal.transition_to(ProposalStatus.APPROVED)


def test_expired_proposals_cannot_be_signed_and_are_marked(policy, aurelia, borealis, ada, beatrice):
    from datetime import timedelta

    from django.utils import timezone

    proposal = admission_proposal(institution=aurelia, actor=ada)
    later = timezone.now() + timedelta(days=15)
    ThresholdProposal.all_institutions.filter(pk=proposal.pk).update(expires_at=timezone.now())
    before = _state(proposal)
    with pytest.raises(InvalidTransition):
        services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    assert _state(proposal) == before
    assert services.threshold_proposals_expire_due(now=later) == 1
    assert services.threshold_proposals_expire_due(now=later) == 0
    assert ThresholdProposal.all_institutions.get(pk=proposal.pk).status == ProposalStatus.EXPIRED


def test_a_failing_effect_records_nothing(proposal, aurelia, borealis, ada, beatrice):
    """If the act cannot take effect at the k-th signature, that signature is not kept either."""
    services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    from apps.tenancy.services import institution_create

    with transaction.atomic():
        institution_create(name="Caldera", slug="city-of-caldera", kind="municipality")
    before = _state(proposal)
    with institution_scope(borealis), pytest.raises(Conflict):
        services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    assert _state(proposal) == before


def test_the_effect_registry_refuses_unknown_and_second_effects():
    with pytest.raises(ValueError):
        register_effect(ActEffect(act_type="launch_rockets", validate=dict, apply=lambda **kw: {}))
    with pytest.raises(ValueError):
        register_effect(ActEffect(act_type=ActType.ADMIT_INSTITUTION, validate=dict, apply=lambda **kw: {}))
    assert effect_for(ActType.ADMIT_INSTITUTION) is not None


def test_policy_validation(aurelia):
    with pytest.raises(ValidationFailed):
        services.threshold_policy_create(name="P", act_type=ActType.REVOKE_AGENT, k=2, authorities=[aurelia])
    with pytest.raises(ValidationFailed):
        services.threshold_policy_create(name="P", act_type="nope", k=1, authorities=[aurelia])
    assert _events("trust.policy.create") == 0


def test_trust_policy_command(aurelia, borealis):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command(
        "trust_policy",
        "create",
        "--name",
        "Revocation",
        "--act-type",
        "revoke_agent",
        "--k",
        "2",
        "--authority",
        "aurelia",
        "--authority",
        "borealis",
        stdout=out,
    )
    assert "2 of 2" in out.getvalue()
    with pytest.raises(CommandError, match="No institution"):
        call_command(
            "trust_policy",
            "create",
            "--name",
            "X",
            "--act-type",
            "certify_agent",
            "--k",
            "1",
            "--authority",
            "atlantis",
        )
    with pytest.raises(CommandError, match="already a policy"):
        call_command(
            "trust_policy", "create", "--name", "Y", "--act-type", "revoke_agent", "--k", "1", "--authority", "aurelia"
        )
    out = StringIO()
    call_command("trust_policy", "list", stdout=out)
    assert "revoke_agent: Revocation, 2 of [aurelia, borealis]" in out.getvalue()


def test_the_expiry_task_is_idempotent(policy, aurelia, ada):
    from django.utils import timezone

    from apps.trust.tasks import threshold_proposals_expire_task

    proposal = admission_proposal(institution=aurelia, actor=ada)
    ThresholdProposal.all_institutions.filter(pk=proposal.pk).update(expires_at=timezone.now())
    assert threshold_proposals_expire_task.apply().get() == 1
    assert threshold_proposals_expire_task.apply().get() == 0
    assert _events("trust.proposal.expire") == 1
