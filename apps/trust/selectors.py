"""Reads of threshold policies and proposals.

A proposal belongs to the institution that proposed it, but each authority of its
policy must find it in its own inbox: the selectors here cross institutions on purpose,
always starting from the viewer's institution and letting through only the proposals
that institution proposed or is an authority of.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.identity.models import KeyOwnerType, SigningKey
from apps.tenancy.models import Institution
from apps.trust import document as doc
from apps.trust.models import ProposalStatus, ThresholdPolicy, ThresholdProposal, ThresholdSignature


def policies_list() -> QuerySet[ThresholdPolicy]:
    """Every policy of the federation: who the authorities are is public to members."""
    return ThresholdPolicy.objects.prefetch_related("authorities").order_by("act_type")


def policy_for_act(*, act_type: str) -> ThresholdPolicy | None:
    return ThresholdPolicy.objects.filter(act_type=act_type).first()


def proposals_visible_to(*, institution: Institution, status: str = "") -> QuerySet[ThresholdProposal]:
    """The proposals an institution proposed or must sign as an authority, newest first."""
    # tenancy: a proposal is its proposer's row, but its authorities read it too
    qs = ThresholdProposal.all_institutions.filter(Q(institution=institution) | Q(authorities=institution))
    if status:
        qs = qs.filter(status=status)
    return qs.distinct().select_related("institution", "policy").order_by("-created_at", "-pk")


def proposal_get(*, institution: Institution, proposal_id: int) -> ThresholdProposal:
    """Raises: Http404 unless the institution proposed it or is one of its authorities."""
    proposal = proposals_visible_to(institution=institution).filter(pk=proposal_id).first()
    if proposal is None:
        raise Http404
    return proposal


def is_authority(*, proposal: ThresholdProposal, institution: Institution) -> bool:
    return proposal.authorities.filter(pk=institution.pk).exists()


def signatures_of(*, proposal: ThresholdProposal) -> QuerySet[ThresholdSignature]:
    return proposal.signatures.select_related("authority", "signed_by").order_by("created_at", "pk")


def authority_ref(institution: Institution) -> dict[str, str]:
    """How the signed document names an institution: its DID (its slug when it has none yet)."""
    return {"id": institution.did or f"slug:{institution.slug}", "name": institution.name}


def trusted_keys_for(*, proposal: ThresholdProposal) -> dict[str, set[bytes]]:
    """Each authority's public keys known to this node (active and retired), by DID."""
    authorities = list(proposal.authorities.all())
    by_pk = {str(a.pk): authority_ref(a)["id"] for a in authorities}
    trusted: dict[str, set[bytes]] = {ref: set() for ref in by_pk.values()}
    for owner_id, public_key in SigningKey.objects.filter(
        owner_type=KeyOwnerType.INSTITUTION, owner_id__in=list(by_pk)
    ).values_list("owner_id", "public_key"):
        trusted[by_pk[owner_id]].add(bytes(public_key))
    return trusted


def _signature_entries(signatures) -> list[dict[str, Any]]:
    return [
        {
            "authority": authority_ref(s.authority)["id"],
            "key_id": s.key_id,
            "public_key": bytes(s.public_key),
            "signature": bytes(s.signature),
        }
        for s in signatures
    ]


def proposal_evaluation(*, proposal: ThresholdProposal, signatures=None) -> doc.Evaluation:
    """Re-verify every stored signature against the stored canonical form and this node's keys."""
    signatures = list(signatures if signatures is not None else signatures_of(proposal=proposal))
    return doc.evaluate_signatures(
        document=proposal_document(proposal=proposal),
        canonical=proposal.canonical.encode(),
        signatures=_signature_entries(signatures),
        trusted_keys=trusted_keys_for(proposal=proposal),
    )


def proposal_document(*, proposal: ThresholdProposal) -> dict[str, Any]:
    import json

    return json.loads(proposal.canonical)


def proposal_export(*, proposal: ThresholdProposal) -> dict[str, Any]:
    """Everything another node needs to re-check the proposal without this database."""
    return {
        "format": doc.EXPORT_FORMAT,
        "document": proposal_document(proposal=proposal),
        "canonical": proposal.canonical,
        "digest": proposal.digest,
        "signing_context": doc.SIGNING_CONTEXT.decode(),
        "status": proposal.status,
        "signatures": [
            {**entry, "public_key": doc.b64(entry["public_key"]), "signature": doc.b64(entry["signature"])}
            for entry in _signature_entries(signatures_of(proposal=proposal))
        ],
    }


def proposals_open_count(*, institution: Institution) -> int:
    return proposals_visible_to(institution=institution, status=ProposalStatus.PROPOSED).count()


def proposal_detail(*, proposal: ThresholdProposal, institution: Institution) -> dict[str, Any]:
    """What the viewer's institution sees of a proposal: the signed document, each
    authority's signature with whether it counts, and what the viewer may do.

    Who signed for another institution is that institution's business: only the
    institution is shown, except for the viewer's own signatures."""
    signatures = list(signatures_of(proposal=proposal))
    evaluation = proposal_evaluation(proposal=proposal, signatures=signatures)
    authorities = list(proposal.authorities.all().order_by("name"))
    signed = {s.authority_id for s in signatures}
    rows = []
    for signature, check in zip(signatures, evaluation.checks, strict=True):
        rows.append(
            {
                "authority": signature.authority,
                "key_id": signature.key_id,
                "signature": doc.b64(signature.signature),
                "signed_by": signature.signed_by if signature.authority_id == institution.pk else None,
                "created_at": signature.created_at,
                "counted": check.counted,
                "reason": check.reason,
            }
        )
    viewer_is_authority = any(a.pk == institution.pk for a in authorities)
    return {
        "proposal": proposal,
        "document": proposal_document(proposal=proposal),
        "signing_context": doc.SIGNING_CONTEXT.decode(),
        "authorities": [{"institution": a, "signed": a.pk in signed} for a in authorities],
        "signatures": rows,
        "valid_signatures": evaluation.count,
        "viewer_is_authority": viewer_is_authority,
        "viewer_is_proposer": proposal.institution_id == institution.pk,
        "can_sign": viewer_is_authority and proposal.is_open and institution.pk not in signed,
        "can_withdraw": proposal.institution_id == institution.pk and proposal.is_open,
    }
