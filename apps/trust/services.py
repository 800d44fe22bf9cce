"""Writes of the trust app: threshold policies, proposals, signatures, and their effects.

Every write validates, changes, and appends its audit event in one transaction. The
k-th valid signature, the proposal's approval and the act's effect commit together or
not at all.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import signing_key_create, signing_key_sign
from apps.tenancy.models import Institution, Role
from apps.tenancy.scope import institution_scope
from apps.tenancy.selectors import roles_of
from apps.trust import ceremony, selectors
from apps.trust import document as doc
from apps.trust.effects import effect_for
from apps.trust.models import (
    ActType,
    KeyCeremony,
    ProposalStatus,
    ThresholdPolicy,
    ThresholdProposal,
    ThresholdSignature,
)
from portal.errors import ApplicationError, Conflict, InvalidTransition, PermissionDenied, ValidationFailed

DEFAULT_PROPOSAL_DAYS = 14
MAX_PROPOSAL_DAYS = 90


def _require_admin(*, actor, institution: Institution, message: str) -> None:
    if actor is None or Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(message)


@transaction.atomic
def threshold_policy_create(
    *, name: str, act_type: str, k: int, authorities: list[Institution], actor=None
) -> ThresholdPolicy:
    """Set who must approve an act type, k of n; a federation-level act of the node operator.

    Raises: ValidationFailed, Conflict."""
    name = (name or "").strip()
    authorities = list({a.pk: a for a in authorities}.values())
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("A policy needs a name.")]
    if act_type not in ActType.values:
        errors["act_type"] = [_("Unknown act type “%(act)s”.") % {"act": act_type}]
    if not authorities:
        errors["authorities"] = [_("A policy needs at least one authority institution.")]
    if not isinstance(k, int) or not 1 <= k <= max(len(authorities), 1):
        errors["k"] = [_("k must be between 1 and the number of authorities.")]
    if errors:
        raise ValidationFailed(errors=errors)
    if ThresholdPolicy.objects.filter(act_type=act_type).exists():
        raise Conflict(_("There is already a policy for this act type."))
    if ThresholdPolicy.objects.filter(name=name).exists():
        raise Conflict(_("There is already a policy with this name."))
    policy = ThresholdPolicy.objects.create(name=name, act_type=act_type, k=k)
    policy.authorities.set(authorities)
    audit_append(
        institution=None,
        actor=actor,
        action="trust.policy.create",
        target=policy,
        changes={"name": name, "act_type": act_type, "k": k, "authorities": sorted(a.slug for a in authorities)},
    )
    return policy


@transaction.atomic
def threshold_proposal_create(
    *,
    institution: Institution,
    act_type: str,
    payload: Any,
    actor,
    expires_in_days: int = DEFAULT_PROPOSAL_DAYS,
) -> ThresholdProposal:
    """Propose a federation-level act; its policy's authorities then sign the canonical document.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    _require_admin(
        actor=actor, institution=institution, message=_("Only an institution administrator can propose an act.")
    )
    if act_type not in ActType.values:
        raise ValidationFailed(errors={"act_type": [_("Unknown act type “%(act)s”.") % {"act": act_type}]})
    effect = effect_for(act_type)
    if effect is None:
        raise ValidationFailed(errors={"act_type": [_("This act type cannot be proposed on this node yet.")]})
    policy = selectors.policy_for_act(act_type=act_type)
    if policy is None:
        raise ValidationFailed(errors={"act_type": [_("No threshold policy governs this act type yet.")]})
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= MAX_PROPOSAL_DAYS:
        raise ValidationFailed(
            errors={"expires_in_days": [_("Between 1 and %(max)s days.") % {"max": MAX_PROPOSAL_DAYS}]}
        )
    payload = effect.validate(payload)
    authorities = list(policy.authorities.all())
    if not 1 <= policy.k <= len(authorities):
        raise Conflict(_("The policy for this act type cannot be met: it asks for more signatures than authorities."))
    now = timezone.now()
    uid = uuid.uuid4()
    expires_at = now + timedelta(days=expires_in_days)
    document = doc.build_document(
        uid=str(uid),
        act_type=act_type,
        payload=payload,
        proposer=selectors.authority_ref(institution),
        policy_name=policy.name,
        k=policy.k,
        authorities=[selectors.authority_ref(a) for a in authorities],
        created_at=now.isoformat(),
        expires_at=expires_at.isoformat(),
    )
    try:
        canonical = doc.canonical_bytes(document)
    except (ValueError, TypeError) as exc:  # rfc8785 errors are ValueErrors: NaN, huge integers
        raise ValidationFailed(errors={"payload": [_("The payload cannot be written as canonical JSON.")]}) from exc
    proposal = ThresholdProposal(
        institution=institution,
        uid=uid,
        policy=policy,
        act_type=act_type,
        payload=payload,
        k=policy.k,
        canonical=canonical.decode(),
        digest=doc.digest_of(canonical),
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
    )
    proposal.save()
    proposal.authorities.set(authorities)
    audit_append(
        institution=institution,
        actor=actor,
        action="trust.proposal.create",
        target=proposal,
        changes={
            "uid": str(uid),
            "act_type": act_type,
            "digest": proposal.digest,
            "k": policy.k,
            "authorities": sorted(a.slug for a in authorities),
        },
    )
    return proposal


def _institution_key(*, institution: Institution, actor) -> SigningKey:
    key = SigningKey.objects.filter(
        owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), status=KeyStatus.ACTIVE
    ).first()
    return key or signing_key_create(
        owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), actor=actor, institution=institution
    )


def _lock(proposal: ThresholdProposal) -> ThresholdProposal:
    # tenancy: the signer acts in its own institution's scope on the proposer's row
    return ThresholdProposal.all_institutions.select_for_update().get(pk=proposal.pk)


def _require_open(proposal: ThresholdProposal) -> None:
    if proposal.status != ProposalStatus.PROPOSED:
        raise InvalidTransition(
            _("This proposal is no longer open: %(status)s.") % {"status": proposal.get_status_display()}
        )
    if proposal.expires_at <= timezone.now():
        raise InvalidTransition(_("This proposal has expired."))


@transaction.atomic
def threshold_proposal_sign(*, proposal: ThresholdProposal, authority: Institution, actor) -> ThresholdProposal:
    """Sign a proposal with the authority institution's key; the k-th valid signature makes it take effect.

    Raises: PermissionDenied, InvalidTransition, Conflict, and whatever the act's effect raises
    (then nothing is recorded)."""
    proposal = _lock(proposal)
    _require_admin(
        actor=actor,
        institution=authority,
        message=_("Only an institution administrator can sign for the institution."),
    )
    if not selectors.is_authority(proposal=proposal, institution=authority):
        raise PermissionDenied(_("%(institution)s is not an authority for this act.") % {"institution": authority})
    _require_open(proposal)
    if proposal.signatures.filter(authority=authority).exists():
        raise Conflict(_("%(institution)s has already signed this proposal.") % {"institution": authority})
    key = _institution_key(institution=authority, actor=actor)
    signature = ThresholdSignature.objects.create(
        proposal=proposal,
        authority=authority,
        key_id=key.key_id,
        public_key=bytes(key.public_key),
        signature=signing_key_sign(key=key, message=doc.signing_message(proposal.canonical.encode())),
        signed_by=actor,
    )
    audit_append(
        institution=authority,
        actor=actor,
        action="trust.proposal.sign",
        target=signature,
        changes={"proposal": str(proposal.uid), "digest": proposal.digest, "key_id": key.key_id},
    )
    evaluation = selectors.proposal_evaluation(proposal=proposal)
    if evaluation.met:
        _approve(proposal=proposal, evaluation=evaluation, actor=actor)
    return proposal


def _approve(*, proposal: ThresholdProposal, evaluation: doc.Evaluation, actor) -> None:
    effect = effect_for(proposal.act_type)
    if effect is None:
        raise ApplicationError(_("No effect is registered for this act type on this node."), code="no_effect")
    # The proposal and its effect are the proposer's: write them in its scope.
    with institution_scope(proposal.institution):
        proposal.transition_to(ProposalStatus.APPROVED)
        result = effect.apply(proposal=proposal, actor=f"threshold:{proposal.uid}")
        proposal.effect_result = result or {}
        proposal.save(update_fields=["status", "decided_at", "effect_result"])
        audit_append(
            institution=proposal.institution,
            actor=actor,
            action="trust.proposal.approve",
            target=proposal,
            changes={
                "uid": str(proposal.uid),
                "digest": proposal.digest,
                "signed_by": evaluation.valid_authorities,
                "effect": proposal.effect_result,
            },
        )


@transaction.atomic
def threshold_proposal_withdraw(*, proposal: ThresholdProposal, actor, reason: str = "") -> ThresholdProposal:
    """The proposing institution withdraws an open proposal; it can no longer be signed.

    Raises: PermissionDenied, InvalidTransition, ValidationFailed."""
    proposal = _lock(proposal)
    _require_admin(
        actor=actor,
        institution=proposal.institution,
        message=_("Only an administrator of the proposing institution can withdraw it."),
    )
    reason = (reason or "").strip()
    if len(reason) > 2000:
        raise ValidationFailed(errors={"reason": [_("At most 2000 characters.")]})
    with institution_scope(proposal.institution):
        proposal.transition_to(ProposalStatus.REJECTED)
        proposal.reason = reason
        proposal.save(update_fields=["status", "decided_at", "reason"])
        audit_append(
            institution=proposal.institution,
            actor=actor,
            action="trust.proposal.withdraw",
            target=proposal,
            changes={"uid": str(proposal.uid), "reason": reason},
        )
    return proposal


def threshold_proposals_expire_due(*, now=None) -> int:
    """Mark open proposals past their deadline as expired, each in its own transaction; returns how many."""
    now = now or timezone.now()
    # tenancy: a node-wide sweep over every institution's proposals
    due = ThresholdProposal.all_institutions.filter(status=ProposalStatus.PROPOSED, expires_at__lte=now)
    expired = 0
    for proposal_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            proposal = ThresholdProposal.all_institutions.select_for_update().get(pk=proposal_id)
            if proposal.status != ProposalStatus.PROPOSED:
                continue
            with institution_scope(proposal.institution):
                proposal.transition_to(ProposalStatus.EXPIRED)
                proposal.save(update_fields=["status", "decided_at"])
                audit_append(
                    institution=proposal.institution,
                    actor="trust.expire",
                    action="trust.proposal.expire",
                    target=proposal,
                    changes={"uid": str(proposal.uid)},
                )
            expired += 1
    return expired


# --- key ceremonies ---------------------------------------------------------------------


def key_ceremony_split(
    *, key: SigningKey, k: int, n: int, officers: list[str], conducted_by: str
) -> tuple[KeyCeremony, list[dict[str, Any]]]:
    """Split a stored private key into n officer shares (k to recover) and record the ceremony.

    Call it inside the transaction that also writes the share files, so a ceremony is
    recorded if and only if its files exist. The record and its audit event hold who,
    when, k, n and the key id, never a share.
    Raises: ShareError, ImproperlyConfigured (the key does not open under the master key)."""
    from apps.identity import keys

    uid = uuid.uuid4()
    shares = ceremony.build_shares(
        ceremony=str(uid),
        raw_private=keys.unseal(key.encrypted_private_key, key_id=key.key_id),
        key_id=key.key_id,
        owner_type=key.owner_type,
        owner_id=key.owner_id,
        public_key=bytes(key.public_key),
        k=k,
        n=n,
        officers=officers,
    )
    with transaction.atomic():
        record = KeyCeremony.objects.create(
            uid=uid, key_id=key.key_id, k=k, n=n, officers=[s["officer"] for s in shares], conducted_by=conducted_by
        )
        audit_append(
            institution=_key_institution(key),
            actor=f"key_ceremony:{conducted_by}",
            action="trust.key_ceremony.split",
            target=record,
            changes={"key_id": key.key_id, "k": k, "n": n, "officers": record.officers, "ceremony": str(uid)},
        )
    return record, shares


def _key_institution(key: SigningKey) -> Institution | None:
    if key.owner_type == KeyOwnerType.INSTITUTION and key.owner_id.isdigit():
        return Institution.objects.filter(pk=int(key.owner_id)).first()
    return None


@transaction.atomic
def key_ceremony_recover(
    *, shares: list[dict[str, Any]], conducted_by: str, restore: bool = False
) -> tuple[ceremony.RecoveredKey, str]:
    """Rebuild a key from officer shares, check it against the stored public key, and with
    `restore` seal it under the current master key (replacing the stored ciphertext, or
    recreating the key row if it was lost). Returns the key and what was done.

    Raises: InsufficientShares, ShareError."""
    from apps.identity import keys

    key_id = shares[0]["key_id"] if shares else ""
    row = SigningKey.objects.select_for_update().filter(key_id=key_id).first() if key_id else None
    recovered = ceremony.recover(shares, expected_public_key=bytes(row.public_key) if row else None)
    outcome = "verified"
    # Identity has no service to restore a key from a backup; this is the one place that
    # writes SigningKey rows outside apps.identity, under the same sealing rules.
    if restore:
        sealed = keys.seal(recovered.raw_private, key_id=recovered.key_id)
        if row is not None:
            row.encrypted_private_key = sealed
            row.save(update_fields=["encrypted_private_key"])
            outcome = "resealed"
        else:
            active_exists = SigningKey.objects.filter(
                owner_type=recovered.owner_type, owner_id=recovered.owner_id, status=KeyStatus.ACTIVE
            ).exists()
            # A replacement key may have become active meanwhile: the restored one then only verifies.
            row = SigningKey.objects.create(
                key_id=recovered.key_id,
                owner_type=recovered.owner_type,
                owner_id=recovered.owner_id,
                public_key=recovered.public_key,
                encrypted_private_key=sealed,
                status=KeyStatus.RETIRED if active_exists else KeyStatus.ACTIVE,
                retired_at=timezone.now() if active_exists else None,
            )
            outcome = "recreated"
    audit_append(
        institution=_key_institution(row) if row is not None else None,
        actor=f"key_ceremony:{conducted_by}",
        action="trust.key_ceremony.recover",
        target_type="identity.signingkey",
        target_id=str(row.pk) if row is not None else "",
        changes={
            "key_id": recovered.key_id,
            "ceremony": recovered.ceremony,
            "shares_used": recovered.used,
            "outcome": outcome,
        },
    )
    return recovered, outcome
