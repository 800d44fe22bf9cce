"""Reads of the transparency log."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from apps.audit import merkle
from apps.audit.models import AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import entry_bytes, tree_head_message
from apps.identity import keys
from portal.errors import NotFound, ValidationFailed


def audit_events_for_institution(*, institution, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Sequenced events of one institution, newest first, optionally filtered."""
    qs = AuditEvent.objects.filter(institution=institution, sequence__isnull=False).order_by("-sequence")
    filters = filters or {}
    if filters.get("action"):
        qs = qs.filter(action__startswith=filters["action"])
    if filters.get("actor"):
        qs = qs.filter(actor_label__icontains=filters["actor"])
    if filters.get("target_type"):
        qs = qs.filter(target_type=filters["target_type"])
    if filters.get("target_id"):
        qs = qs.filter(target_id=filters["target_id"])
    if filters.get("since"):
        qs = qs.filter(created_at__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(created_at__lte=filters["until"])
    return qs


def audit_event_get(*, institution, sequence: int) -> AuditEvent:
    """One sequenced event of the institution. Raises: NotFound."""
    event = AuditEvent.objects.filter(institution=institution, sequence=sequence).first()
    if event is None:
        raise NotFound()
    return event


def tree_head_latest() -> SignedTreeHead | None:
    return SignedTreeHead.objects.select_related("key").order_by("-tree_size", "-timestamp").first()


def tree_head_at_size(*, tree_size: int) -> SignedTreeHead:
    """Raises: NotFound when no tree head was signed at that size."""
    sth = SignedTreeHead.objects.select_related("key").filter(tree_size=tree_size).order_by("-timestamp").first()
    if sth is None:
        raise NotFound(f"No signed tree head at size {tree_size}.")
    return sth


def _leaf_hashes(tree_size: int) -> list[bytes]:
    hashes = list(
        AuditEvent.objects.filter(sequence__lt=tree_size).order_by("sequence").values_list("leaf_hash", flat=True)
    )
    if len(hashes) != tree_size:
        raise ValidationFailed(f"The log has fewer than {tree_size} sequenced entries.", code="tree_size_too_large")
    return [bytes.fromhex(h) for h in hashes]


def inclusion_proof(*, sequence: int, tree_size: int) -> list[str]:
    """Audit path of the entry at `sequence` in the tree of `tree_size` (hex).

    Raises: ValidationFailed for a position outside the tree."""
    if not 0 <= sequence < tree_size:
        raise ValidationFailed("The entry must lie inside the tree.", code="entry_outside_tree")
    return [h.hex() for h in merkle.inclusion_proof(_leaf_hashes(tree_size), sequence)]


def consistency_proof(*, first: int, second: int) -> list[str]:
    """Proof that the tree of size `first` is a prefix of the tree of size `second` (hex).

    Raises: ValidationFailed unless 0 < first <= second <= the log's size."""
    if not 0 < first <= second:
        raise ValidationFailed("Sizes must satisfy 0 < first <= second.", code="bad_tree_sizes")
    return [h.hex() for h in merkle.consistency_proof(_leaf_hashes(second), first)]


def leaf_hash_at(*, sequence: int) -> str:
    """Raises: NotFound when no entry has this position yet."""
    leaf = AuditEvent.objects.filter(sequence=sequence).values_list("leaf_hash", flat=True).first()
    if leaf is None:
        raise NotFound(f"No entry at position {sequence}.")
    return leaf


def audit_target_types(*, institution) -> list[str]:
    """The kinds of object the institution's events are about, for a filter's choices."""
    return list(
        AuditEvent.objects.filter(institution=institution, sequence__isnull=False)
        .exclude(target_type="")
        .order_by("target_type")
        .values_list("target_type", flat=True)
        .distinct()
    )


def log_size() -> int:
    """How many entries the sequencer has given a position."""
    return LogHead.objects.filter(pk=1).values_list("tree_size", flat=True).first() or 0


def tree_heads_recent(*, limit: int = 50) -> list[SignedTreeHead]:
    return list(SignedTreeHead.objects.select_related("key").order_by("-tree_size", "-timestamp")[:limit])


def tree_head_signature_valid(*, sth: SignedTreeHead) -> bool:
    message = tree_head_message(
        tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp_iso=sth.timestamp.isoformat()
    )
    try:
        signature = bytes.fromhex(sth.signature)
    except ValueError:
        return False
    return keys.verify(sth.key.public_key, signature, message)


@dataclass
class InclusionCheck:
    """Whether one entry provably belongs to the log as signed in a tree head."""

    entry: str  # the canonical JSON the leaf hash is computed over
    leaf_hash: str  # recomputed from the entry as stored now
    content_matches: bool  # ...and equal to the leaf hash the sequencer recorded
    tree_head: SignedTreeHead | None = None
    audit_path: list[str] = field(default_factory=list)
    path_valid: bool = False
    signature_valid: bool = False

    @property
    def covered(self) -> bool:
        """Whether a signed tree head includes the entry's position yet."""
        return self.tree_head is not None

    @property
    def verified(self) -> bool:
        return self.covered and self.content_matches and self.path_valid and self.signature_valid


def audit_event_inclusion(*, event: AuditEvent, tree_head: SignedTreeHead | None) -> InclusionCheck:
    """Recompute the entry's leaf and check its audit path against a signed tree head.

    Loads the leaf hashes of the whole tree (one indexed column), so it costs O(tree size)."""
    entry = entry_bytes(event)
    leaf = merkle.leaf_hash(entry)
    check = InclusionCheck(entry=entry.decode(), leaf_hash=leaf.hex(), content_matches=leaf.hex() == event.leaf_hash)
    if tree_head is None or event.sequence is None or event.sequence >= tree_head.tree_size:
        return check
    check.tree_head = tree_head
    check.signature_valid = tree_head_signature_valid(sth=tree_head)
    try:
        check.audit_path = inclusion_proof(sequence=event.sequence, tree_size=tree_head.tree_size)
    except (ValidationFailed, ValueError):  # entries removed or leaf hashes garbled: no proof to give
        return check
    check.path_valid = merkle.verify_inclusion(
        leaf=leaf,
        index=event.sequence,
        size=tree_head.tree_size,
        proof=[bytes.fromhex(h) for h in check.audit_path],
        expected_root=bytes.fromhex(tree_head.root_hash),
    )
    return check


def log_verifications_recent(*, institution, limit: int = 10):
    from apps.audit.models import LogVerification

    return LogVerification.objects.filter(institution=institution).select_related("requested_by")[:limit]


def log_verification_get(*, institution, verification_id: int):
    """Raises: NotFound unless the verification was requested in this institution."""
    from apps.audit.models import LogVerification

    verification = (
        LogVerification.objects.filter(institution=institution, pk=verification_id)
        .select_related("requested_by")
        .first()
    )
    if verification is None:
        raise NotFound()
    return verification
