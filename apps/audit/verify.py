"""Recompute the whole log and report every way it differs from what was signed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from apps.audit import merkle
from apps.audit.models import AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import entry_bytes, tree_head_message
from apps.identity import keys


@dataclass
class Finding:
    sequence: int | None
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"entry #{self.sequence}" if self.sequence is not None else "log"
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


def audit_log_verify(*, progress: Callable[[int], None] | None = None, chunk_size: int = 5000) -> VerifyReport:
    """Walk every sequenced entry in order, recomputing leaves, roots and signatures."""
    report = VerifyReport()
    heads = {}
    for sth in SignedTreeHead.objects.select_related("key").order_by("tree_size", "timestamp"):
        heads.setdefault(sth.tree_size, []).append(sth)
    tree = merkle.CompactRange()
    expected = 0
    events = AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence").iterator(chunk_size=chunk_size)

    def check_heads_at(size: int) -> None:
        for sth in heads.get(size, []):
            report.tree_heads += 1
            message = tree_head_message(
                tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp_iso=sth.timestamp.isoformat()
            )
            if not keys.verify(sth.key.public_key, bytes.fromhex(sth.signature), message):
                report.findings.append(Finding(None, None, f"tree head at size {size} has an invalid signature"))
            if sth.root_hash != tree.root().hex():
                last = size - 1
                report.findings.append(
                    Finding(
                        last if last >= 0 else None,
                        None,
                        f"the log's first {size} entries no longer hash to the root signed at size {size} "
                        f"on {sth.timestamp.isoformat()}",
                    )
                )

    check_heads_at(0)
    for event in events:
        while event.sequence > expected:
            report.findings.append(Finding(expected, None, "entry is missing (deleted)"))
            tree.append(b"\x00" * 32)  # keep positions aligned so later entries are still checked
            expected += 1
            check_heads_at(expected)
        leaf = merkle.leaf_hash(entry_bytes(event))
        if leaf.hex() != event.leaf_hash:
            report.findings.append(
                Finding(event.sequence, event.id, "content does not match its leaf hash (altered or moved)")
            )
        tree.append(bytes.fromhex(event.leaf_hash) if _is_hex64(event.leaf_hash) else leaf)
        if tree.root().hex() != event.root_after:
            report.findings.append(
                Finding(event.sequence, event.id, "tree root after this entry differs from the one recorded")
            )
        expected += 1
        report.entries += 1
        check_heads_at(expected)
        if progress and report.entries % chunk_size == 0:
            progress(report.entries)
    head = LogHead.objects.filter(pk=1).first()
    if head is not None and head.tree_size != expected:
        report.findings.append(
            Finding(
                expected if head.tree_size > expected else None,
                None,
                f"the log head counts {head.tree_size} entries but {expected} are present",
            )
        )
    for size in sorted(s for s in heads if s > expected):
        report.findings.append(
            Finding(expected, None, f"a tree head was signed at size {size}, beyond the {expected} entries present")
        )
    report.root_hash = tree.root().hex()
    return report


def _is_hex64(value: str) -> bool:
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False
