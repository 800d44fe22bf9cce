"""Writes of the transparency log: append, sequence, sign tree heads.

Appending and sequencing are separate, as in Trillian: `audit_append` inserts the event
in the caller's transaction with no position; the sequencer later takes the committed
events in a locked batch, gives them contiguous positions and extends the Merkle tree.
Writers never wait on each other for the log, and a rolled-back change leaves no event
and no gap.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit import merkle
from apps.audit.canonical import canonical_json, instance_digest, to_json_value
from apps.audit.models import ActorType, AuditEvent, LogHead, SignedTreeHead

ENTRY_VERSION = 1
STH_CONTEXT = b"civitas-signed-tree-head-v1\n"


class AuditOutsideTransaction(RuntimeError):
    """audit_append was called outside the transaction of the change it records."""


def _actor_fields(actor: Any) -> dict[str, str]:
    if actor is None:
        return {"actor_type": ActorType.SYSTEM, "actor_id": "", "actor_label": "system"}
    if isinstance(actor, AnonymousUser):
        return {"actor_type": ActorType.ANONYMOUS, "actor_id": "", "actor_label": "anonymous"}
    if isinstance(actor, str):  # a named system actor: "node", "beat", a command name
        return {"actor_type": ActorType.SYSTEM, "actor_id": "", "actor_label": actor}
    actor_type = getattr(actor, "audit_actor_type", ActorType.USER)
    return {
        "actor_type": actor_type,
        "actor_id": str(getattr(actor, "did", "") or actor.pk),
        "actor_label": str(getattr(actor, "username", "") or actor),
    }


def audit_append(
    *,
    institution: Any,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    target_type: str = "",
    target_id: str = "",
) -> AuditEvent:
    """Append an event to the log inside the caller's transaction.

    Raises: AuditOutsideTransaction when there is no transaction to join."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction(f"audit_append({action!r}) must run inside the change's transaction.")
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    event = AuditEvent.objects.create(
        created_at=timezone.now(),
        institution=institution,
        action=action,
        target_type=target_type,
        target_id=target_id,
        digest=instance_digest(target),
        changes=to_json_value(changes or {}),
        **_actor_fields(actor),
    )
    _request_sequencing_on_commit()
    return event


def _request_sequencing_on_commit() -> None:
    connection = transaction.get_connection()
    if any(getattr(func, "civitas_audit_sequencer", False) for _, func, _ in connection.run_on_commit):
        return
    # robust: a broker outage must not turn a committed change into an error; beat catches up.
    transaction.on_commit(_sequence_soon, robust=True)


SEQUENCE_PENDING_KEY = "audit.sequence.pending"


def _sequence_soon() -> None:
    """Queue one sequencing task unless one is already queued: a burst of commits (a cluster
    run appends an event per proposal) needs one sequencer pass, not one each. The task clears
    the key before it reads the unsequenced events, so nothing committed later is missed; if a
    queued task is lost, beat's regular pass (CIVITAS_AUDIT_SEQUENCE_SECONDS) catches up."""
    from django.core.cache import cache

    from apps.audit.tasks import audit_sequence_task

    if cache.add(SEQUENCE_PENDING_KEY, 1, timeout=30):
        audit_sequence_task.delay()


_sequence_soon.civitas_audit_sequencer = True  # type: ignore[attr-defined]


def entry_bytes(event: AuditEvent) -> bytes:
    """The leaf data of an event: its canonical JSON, position included."""
    return canonical_json(
        {
            "v": ENTRY_VERSION,
            "sequence": event.sequence,
            "created_at": event.created_at.isoformat(),
            "institution": event.institution_id,
            "actor_type": event.actor_type,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "digest": event.digest,
            "changes": event.changes,
        }
    )


def _log_head_locked() -> LogHead:
    head = LogHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        LogHead.objects.get_or_create(pk=1)
        head = LogHead.objects.select_for_update().get(pk=1)
    return head


def audit_sequence(*, batch_size: int = 2000) -> int:
    """Give committed events their positions and extend the tree; returns how many.

    One sequencer at a time holds the log head's row lock; events committed while it
    runs are picked up by the next run."""
    sequenced = 0
    while True:
        with transaction.atomic():
            head = _log_head_locked()
            pending = list(AuditEvent.objects.filter(sequence__isnull=True).order_by("id")[:batch_size])
            if not pending:
                return sequenced
            tree = merkle.CompactRange(head.tree_size, [bytes.fromhex(h) for h in head.compact_range])
            for event in pending:
                event.sequence = tree.size
                leaf = merkle.leaf_hash(entry_bytes(event))
                tree.append(leaf)
                event.leaf_hash = leaf.hex()
                event.root_after = tree.root().hex()
            _write_positions(pending)
            head.tree_size = tree.size
            head.compact_range = [h.hex() for h in tree.hashes]
            head.root_hash = tree.root().hex()
            head.save()
            sequenced += len(pending)


def _write_positions(events: list[AuditEvent]) -> None:
    """Store the sequencer's three columns for a batch in one set-based statement.

    Not `bulk_update`: it builds one CASE branch per row for each column, which costs
    O(batch²) to compile and to evaluate and was 95% of the sequencer's time (2,500
    entries/s on PostgreSQL; see bench/README.md)."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS e SET sequence = v.sequence, leaf_hash = v.leaf_hash, root_after = v.root_after "  # noqa: S608 - table name from the model
                "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
                "AS v(id, sequence, leaf_hash, root_after) WHERE e.id = v.id",
                [
                    [e.pk for e in events],
                    [e.sequence for e in events],
                    [e.leaf_hash for e in events],
                    [e.root_after for e in events],
                ],
            )
            updated = cursor.rowcount
        else:
            cursor.executemany(
                f"UPDATE {table} SET sequence = %s, leaf_hash = %s, root_after = %s WHERE id = %s",  # noqa: S608
                [(e.sequence, e.leaf_hash, e.root_after, e.pk) for e in events],
            )
            updated = len(events)
    if updated != len(events):  # a row vanished under the lock: refuse to leave a gap
        raise RuntimeError(f"sequencer wrote {updated} of {len(events)} positions")


def tree_head_message(*, tree_size: int, root_hash: str, timestamp_iso: str) -> bytes:
    """The bytes a signed tree head signs."""
    return (
        STH_CONTEXT
        + json.dumps(
            {"tree_size": tree_size, "root_hash": root_hash, "timestamp": timestamp_iso},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    )


def audit_tree_head_sign(*, force: bool = False) -> SignedTreeHead | None:
    """Sequence what is pending, then sign the current head if it moved (or `force`)."""
    from apps.identity.services import node_signing_key, signing_key_sign

    key = node_signing_key()
    audit_sequence()
    with transaction.atomic():
        head = _log_head_locked()
        latest = SignedTreeHead.objects.order_by("-tree_size", "-timestamp").first()
        if not force and latest is not None and latest.tree_size == head.tree_size:
            return None
        now = timezone.now()
        root_hash = head.root_hash or merkle.EMPTY_ROOT.hex()
        message = tree_head_message(tree_size=head.tree_size, root_hash=root_hash, timestamp_iso=now.isoformat())
        return SignedTreeHead.objects.create(
            tree_size=head.tree_size,
            root_hash=root_hash,
            timestamp=now,
            key=key,
            signature=signing_key_sign(key=key, message=message).hex(),
        )


# --- Verification of the whole log, requested from the UI or the API ---------------------


@transaction.atomic
def log_verification_request(*, institution, actor):
    """Queue a full recomputation of the log; an unfinished one is returned instead of a second.

    Raises: PermissionDenied unless the actor reads this institution's audit log."""
    from apps.audit.models import LogVerification, VerificationStatus
    from apps.audit.permissions import can_read_audit_log
    from apps.audit.tasks import log_verification_task
    from apps.tenancy.selectors import roles_of
    from portal.errors import PermissionDenied

    if not can_read_audit_log(roles=roles_of(user=actor, institution=institution)):
        raise PermissionDenied()
    unfinished = (
        LogVerification.all_institutions.select_for_update()
        .filter(institution=institution, status__in=[VerificationStatus.QUEUED, VerificationStatus.RUNNING])
        .first()
    )
    if unfinished is not None:
        return unfinished
    verification = LogVerification.all_institutions.create(
        institution=institution,
        requested_by=actor,
        entries_total=AuditEvent.objects.filter(sequence__isnull=False).count(),
    )
    audit_append(institution=institution, actor=actor, action="audit.verification.request", target=verification)
    transaction.on_commit(
        lambda: log_verification_task.delay(verification_id=verification.pk, institution_id=institution.pk),
        robust=True,
    )
    return verification


def log_verification_run(*, verification_id: int):
    """Run a queued verification, publishing progress as it goes; running it twice does nothing."""
    from apps.audit.models import LogVerification, VerificationStatus
    from apps.audit.verify import audit_log_verify

    with transaction.atomic():
        verification = LogVerification.all_institutions.select_for_update().get(pk=verification_id)
        if verification.status != VerificationStatus.QUEUED:
            return verification
        verification.transition_to(VerificationStatus.RUNNING)
        verification.started_at = timezone.now()
        verification.entries_total = AuditEvent.objects.filter(sequence__isnull=False).count()
        verification.save()
        audit_append(
            institution=verification.institution, actor=None, action="audit.verification.start", target=verification
        )
    progress = _ProgressWriter(verification)
    try:
        report = audit_log_verify(progress=progress, chunk_size=1000)
    except Exception as exc:  # recorded for the auditor, then re-raised for the worker's log
        with transaction.atomic():
            verification.refresh_from_db()
            verification.transition_to(VerificationStatus.ERROR)
            verification.findings = [f"{type(exc).__name__}: the verification could not finish"]
            verification.finished_at = timezone.now()
            verification.save()
            audit_append(
                institution=verification.institution,
                actor=None,
                action="audit.verification.error",
                target=verification,
            )
        raise
    finally:
        progress.close()
    with transaction.atomic():
        verification.refresh_from_db()
        verification.transition_to(VerificationStatus.PASSED if report.ok else VerificationStatus.FAILED)
        verification.entries_checked = report.entries
        verification.tree_heads_checked = report.tree_heads
        verification.root_hash = report.root_hash
        verification.findings = [str(finding) for finding in report.findings][:1000]
        verification.finished_at = timezone.now()
        verification.save()
        audit_append(
            institution=verification.institution,
            actor=None,
            action="audit.verification.complete",
            target=verification,
            changes={"ok": report.ok, "entries": report.entries, "findings": len(report.findings)},
        )
    return verification


class _ProgressWriter:
    """Writes progress through a connection of its own: the verification reads inside a
    read-only snapshot transaction, and the page polling the progress must see it at once."""

    def __init__(self, verification):
        from django.db import connections

        self.table = type(verification)._meta.db_table
        self.pk = verification.pk
        self.connection = connections.create_connection("default")

    def __call__(self, entries_checked: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET entries_checked = %s WHERE id = %s",  # noqa: S608 (table name from the model)
                [entries_checked, self.pk],
            )

    def close(self) -> None:
        self.connection.close()
