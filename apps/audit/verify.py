"""Recompute the whole log and report every way it differs from what was signed.

Three independent checks, from weakest to strongest evidence:

1. Each row against its own leaf hash: the canonical bytes of an entry include its
   position, so a changed field, a moved entry or two swapped entries name the row.
2. The positions are contiguous and the tree rebuilt from the stored leaf hashes gives
   the root the sequencer recorded after each entry (`root_after`).
3. The rebuilt tree gives the root of every signed tree head, and each signature holds.

Checks 1 and 2 use only what is in the database, so someone who can write to it can
recompute `leaf_hash` and `root_after` after changing an entry. Check 3 cannot be
forged without the node's key, but a root covers many entries: it tells that one of
the entries signed since the previous matching tree head changed, not which one. The
finding therefore names that range; it is a single entry when tree heads are signed
often enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction

from apps.audit import merkle
from apps.audit.models import AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import entry_bytes, tree_head_message
from apps.identity import keys

# Stands in for a deleted entry so the positions after it stay aligned.
_MISSING_LEAF = b"\x00" * 32


@dataclass
class Finding:
    """One problem, naming the entry (position and row id) or the range of positions."""

    sequence: int | None
    event_id: int | None
    problem: str
    last_sequence: int | None = None  # set when the culprit lies somewhere in [sequence, last_sequence]

    def __str__(self) -> str:
        if self.sequence is None:
            where = "log"
        elif self.last_sequence is not None and self.last_sequence != self.sequence:
            where = f"entries #{self.sequence} to #{self.last_sequence}"
        else:
            where = f"entry #{self.sequence}"
        if self.event_id is not None:
            where += f" (row id {self.event_id})"
        return f"{where}: {self.problem}"


@dataclass
class VerifyReport:
    entries: int = 0
    tree_heads: int = 0
    root_hash: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


@contextmanager
def _consistent_snapshot() -> Iterator[None]:
    """Read the whole log as of one moment, so a sequencer running meanwhile is no finding.

    PostgreSQL gives a repeatable-read snapshot. SQLite runs its transactions with
    BEGIN IMMEDIATE here, which would block every writer for the whole walk, so there
    the walk reads without one and the checks are ordered to tolerate a concurrent
    sequencer (tree heads, then the head, then the entries, then the head again)."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        yield


def _head_size() -> int | None:
    return LogHead.objects.filter(pk=1).values_list("tree_size", flat=True).first()


def audit_log_verify(*, progress: Callable[[int], None] | None = None, chunk_size: int = 5000) -> VerifyReport:
    """Walk every sequenced entry in order, recomputing leaves, roots and signatures.

    `progress` is called with the number of entries checked so far, every `chunk_size`."""
    with _consistent_snapshot():
        return _verify(progress=progress, chunk_size=chunk_size)


def _verify(*, progress: Callable[[int], None] | None, chunk_size: int) -> VerifyReport:
    report = VerifyReport()
    findings = report.findings
    heads: dict[int, list[SignedTreeHead]] = {}
    for sth in SignedTreeHead.objects.select_related("key").order_by("tree_size", "timestamp", "id"):
        heads.setdefault(sth.tree_size, []).append(sth)
    head_before = _head_size()

    tree = merkle.CompactRange()
    expected = 0  # the position the next entry must have
    previous_root_ok = True  # whether the recorded root of the previous position matched
    consequential_root_mismatches = 0
    last_matching_head = 0  # size of the latest signed tree head whose root still matches
    heads_diverged = False  # whether the latest signed tree head checked did not match
    consequential_heads: list[SignedTreeHead] = []
    last_event: AuditEvent | None = None

    def check_heads_at(size: int) -> None:
        nonlocal last_matching_head, heads_diverged
        root = tree.root().hex()
        for sth in heads.get(size, []):
            report.tree_heads += 1
            message = tree_head_message(
                tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp_iso=sth.timestamp.isoformat()
            )
            if not _signature_valid(sth.key.public_key, sth.signature, message):
                findings.append(
                    Finding(
                        None,
                        None,
                        f"the tree head signed at size {size} on {sth.timestamp.isoformat()} (row id {sth.id}) "
                        f"has an invalid signature for key {sth.key.key_id}",
                    )
                )
            if sth.root_hash == root:
                last_matching_head, heads_diverged = size, False
                continue
            if heads_diverged:  # the tree already differs from what was signed: later heads follow
                consequential_heads.append(sth)
                continue
            heads_diverged = True
            first, last = last_matching_head, size - 1
            single = first == last and last_event is not None and last_event.sequence == last
            findings.append(
                Finding(
                    first,
                    last_event.id if single else None,
                    (
                        f"the log no longer hashes to the root signed at size {size} on "
                        f"{sth.timestamp.isoformat()}: "
                        + (
                            "this entry was changed, removed or reordered after it was signed"
                            if first == last
                            else "an entry in this range was changed, removed or reordered after it was signed "
                            f"(the tree head at size {first} still matches)"
                        )
                    ),
                    last_sequence=last,
                )
            )

    check_heads_at(0)
    events = AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence").iterator(chunk_size=chunk_size)
    for event in events:
        if event.sequence > expected:
            findings.append(
                Finding(
                    expected,
                    None,
                    "entry is missing: it was deleted or moved"
                    if event.sequence == expected + 1
                    else "entries are missing: they were deleted or moved",
                    last_sequence=event.sequence - 1,
                )
            )
            while event.sequence > expected:
                tree.append(_MISSING_LEAF)
                expected += 1
                check_heads_at(expected)
            previous_root_ok = False
        leaf = merkle.leaf_hash(entry_bytes(event)).hex()
        stored_leaf_valid = _is_hex64(event.leaf_hash)
        content_ok = leaf == event.leaf_hash
        if not content_ok:
            findings.append(
                Finding(
                    event.sequence,
                    event.id,
                    "content does not match its leaf hash: the entry was altered, or moved from another position",
                )
            )
        # Build on the recorded leaf: a changed row then shows once, not in every later root.
        tree.append(bytes.fromhex(event.leaf_hash) if stored_leaf_valid else bytes.fromhex(leaf))
        root_ok = tree.root().hex() == event.root_after
        if not root_ok:
            if previous_root_ok and content_ok:
                findings.append(
                    Finding(
                        event.sequence,
                        event.id,
                        "the tree root recorded after this entry does not follow from the leaf hashes up to it: "
                        "its recorded root, or an earlier entry's leaf hash, was rewritten",
                    )
                )
            else:  # explained by a finding already made (a missing, moved or altered entry)
                consequential_root_mismatches += 1
        previous_root_ok = root_ok
        expected += 1
        last_event = event
        report.entries += 1
        check_heads_at(expected)
        if progress and report.entries % chunk_size == 0:
            progress(report.entries)

    if consequential_root_mismatches:
        findings.append(
            Finding(
                None,
                None,
                f"{consequential_root_mismatches} recorded tree root(s) of the entries concerned or after them "
                "differ as well, following from the findings above",
            )
        )
    if consequential_heads:
        first_size, last_size = consequential_heads[0].tree_size, consequential_heads[-1].tree_size
        which = (
            f"the later signed tree head at size {first_size} no longer matches"
            if len(consequential_heads) == 1
            else f"{len(consequential_heads)} later signed tree heads (sizes {first_size} to {last_size}) "
            "no longer match"
        )
        findings.append(Finding(None, None, f"{which} either, following from the findings above"))
    beyond = sorted(s for s in heads if s > expected)
    if beyond:
        findings.append(
            Finding(
                expected,
                None,
                f"a tree head was signed at size {beyond[-1]}, but only {expected} entries are present: "
                "entries at the end of the log were deleted",
                last_sequence=beyond[-1] - 1,
            )
        )
    # The sequencer moves the head and the entries in one transaction: a head counted
    # before the walk can only be smaller, and one counted after only larger, than what
    # the walk saw, unless someone else wrote to the log.
    if head_before is not None and head_before > expected and not (beyond and beyond[-1] >= head_before):
        findings.append(
            Finding(
                expected,
                None,
                f"the log head counts {head_before} entries but only {expected} are present: "
                "entries at the end of the log were deleted",
                last_sequence=head_before - 1,
            )
        )
    head_after = _head_size()
    if head_after is not None and expected > head_after:
        findings.append(
            Finding(
                head_after,
                None,
                f"the log head counts {head_after} entries but {expected} are present: "
                "these entries were not written by the sequencer",
                last_sequence=expected - 1,
            )
        )
    for event_id in AuditEvent.objects.filter(sequence__isnull=True).exclude(leaf_hash="").values_list("id", flat=True):
        findings.append(Finding(None, event_id, "the entry has a leaf hash but no position: its position was removed"))
    if progress and report.entries % chunk_size:
        progress(report.entries)
    report.root_hash = tree.root().hex()
    return report


def _is_hex64(value: str) -> bool:
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def _signature_valid(public_key: bytes, signature_hex: str, message: bytes) -> bool:
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:  # a rewritten signature column is a finding, not a crash
        return False
    return keys.verify(public_key, signature, message)
