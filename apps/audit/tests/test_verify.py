"""audit_log_verify: a clean log passes; every kind of tampering is found and named."""

from __future__ import annotations

import pytest

from apps.audit import merkle
from apps.audit.models import AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import audit_sequence, entry_bytes
from apps.audit.tests.helpers import record, sign
from apps.audit.verify import Finding, audit_log_verify
from apps.identity.services import node_signing_key

FAR = 10**12  # a free position to park an entry while swapping two


def build_log(institution, *, entries: int = 8, sign_at: tuple[int, ...] = ()) -> list[AuditEvent]:
    """A log of `entries` events (the node key's creation first), signed at the end and
    after each size in `sign_at`."""
    node_signing_key()
    audit_sequence()
    while AuditEvent.objects.count() < entries:
        record(institution, 1)
        audit_sequence()
        if AuditEvent.objects.count() in sign_at:
            sign()
    sign()
    return list(AuditEvent.objects.order_by("sequence"))


def rewrite_hashes_from(position: int) -> None:
    """What someone with write access to the database, but not the key, can do: recompute
    every leaf hash and recorded root from `position` on, and the log head."""
    tree = merkle.CompactRange()
    for event in AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence"):
        leaf = merkle.leaf_hash(entry_bytes(event))
        tree.append(leaf)
        if event.sequence >= position:
            AuditEvent.objects.filter(pk=event.pk).update(leaf_hash=leaf.hex(), root_after=tree.root().hex())
    LogHead.objects.filter(pk=1).update(
        tree_size=tree.size, compact_range=[h.hex() for h in tree.hashes], root_hash=tree.root().hex()
    )


def naming(report, sequence: int, event_id: int | None = None) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.sequence is not None
        and f.sequence <= sequence <= (f.last_sequence if f.last_sequence is not None else f.sequence)
        and (event_id is None or f.event_id == event_id)
    ]


@pytest.mark.django_db
def test_clean_log_verifies(aurelia):
    events = build_log(aurelia, entries=12, sign_at=(3, 7))
    record(aurelia, 2)  # committed but not yet sequenced: not part of the log yet, no finding

    report = audit_log_verify(chunk_size=5)

    assert report.ok, [str(f) for f in report.findings]
    assert report.entries == 12
    assert report.tree_heads == 3
    assert report.root_hash == events[-1].root_after == LogHead.objects.get(pk=1).root_hash


@pytest.mark.django_db
def test_progress_is_reported_while_walking(aurelia):
    build_log(aurelia, entries=7)
    seen: list[int] = []
    audit_log_verify(progress=seen.append, chunk_size=3)
    assert seen == [3, 6, 7]


@pytest.mark.django_db
def test_changed_entry_is_named(aurelia):
    events = build_log(aurelia)
    AuditEvent.objects.filter(sequence=3).update(action="x")

    report = audit_log_verify()

    assert not report.ok
    assert report.findings == [Finding(3, events[3].id, report.findings[0].problem)]
    assert "content does not match its leaf hash" in str(report.findings[0])
    assert str(report.findings[0]).startswith(f"entry #3 (row id {events[3].id}):")


@pytest.mark.django_db
def test_changed_changes_json_is_named(aurelia):
    events = build_log(aurelia)
    AuditEvent.objects.filter(sequence=5).update(changes={"i": 999})
    report = audit_log_verify()
    assert [(f.sequence, f.event_id) for f in report.findings] == [(5, events[5].id)]


@pytest.mark.django_db
def test_deleted_entry_is_named(aurelia):
    build_log(aurelia)
    AuditEvent.objects.filter(sequence=3).delete()

    report = audit_log_verify()

    assert not report.ok
    first = report.findings[0]
    assert (first.sequence, first.event_id, first.last_sequence) == (3, None, 3)
    assert str(first).startswith("entry #3: entry is missing")
    # The later recorded roots follow from the deletion: summarised, not one finding each.
    assert len(report.findings) <= 4
    assert any("signed at size 8" in f.problem for f in report.findings)


@pytest.mark.django_db
def test_several_deleted_entries_are_named_as_a_range(aurelia):
    build_log(aurelia)
    AuditEvent.objects.filter(sequence__in=[3, 4, 5]).delete()
    report = audit_log_verify()
    assert str(report.findings[0]).startswith("entries #3 to #5: entries are missing")


@pytest.mark.django_db
def test_swapped_positions_name_both_entries(aurelia):
    events = build_log(aurelia)
    a, b = events[3], events[5]
    AuditEvent.objects.filter(pk=a.pk).update(sequence=FAR)
    AuditEvent.objects.filter(pk=b.pk).update(sequence=3)
    AuditEvent.objects.filter(pk=a.pk).update(sequence=5)

    report = audit_log_verify()

    assert not report.ok
    moved = [(f.sequence, f.event_id) for f in report.findings if "content does not match" in f.problem]
    assert moved == [(3, b.id), (5, a.id)]


@pytest.mark.django_db
def test_swapped_contents_name_both_entries(aurelia):
    events = build_log(aurelia)
    a, b = events[3], events[5]
    AuditEvent.objects.filter(pk=a.pk).update(changes=b.changes, created_at=b.created_at)
    AuditEvent.objects.filter(pk=b.pk).update(changes=a.changes, created_at=a.created_at)

    report = audit_log_verify()

    assert [(f.sequence, f.event_id) for f in report.findings] == [(3, a.id), (5, b.id)]


@pytest.mark.django_db
def test_rewritten_hashes_are_caught_by_the_signed_tree_head_and_the_entry_named(aurelia):
    # Tree heads signed after entry #2 and after entry #3 bracket entry #3 alone.
    events = build_log(aurelia, sign_at=(3, 4))
    AuditEvent.objects.filter(sequence=3).update(action="x")
    rewrite_hashes_from(3)

    report = audit_log_verify()

    assert not report.ok
    first = report.findings[0]
    assert (first.sequence, first.event_id, first.last_sequence) == (3, events[3].id, 3)
    assert str(first).startswith(f"entry #3 (row id {events[3].id}): the log no longer hashes to the root signed")
    # The database alone looks consistent: only the signature gives it away.
    assert not any("leaf hash" in f.problem and "content" in f.problem for f in report.findings)


@pytest.mark.django_db
def test_rewritten_hashes_are_localised_between_two_signed_tree_heads(aurelia):
    build_log(aurelia, entries=10, sign_at=(2,))
    AuditEvent.objects.filter(sequence=5).update(action="x")
    rewrite_hashes_from(5)

    report = audit_log_verify()

    assert not report.ok
    (finding,) = naming(report, 5)
    assert (finding.sequence, finding.last_sequence) == (2, 9)
    assert str(finding).startswith("entries #2 to #9:")
    assert "the tree head at size 2 still matches" in finding.problem


@pytest.mark.django_db
def test_entry_and_its_own_hashes_rewritten_is_caught(aurelia):
    """A careless rewrite (only the changed row's hashes) breaks the next recorded root."""
    events = build_log(aurelia, sign_at=(3,))
    AuditEvent.objects.filter(sequence=3).update(action="x")
    event = AuditEvent.objects.get(sequence=3)
    tree = merkle.CompactRange()
    for e in events[:3]:
        tree.append(bytes.fromhex(e.leaf_hash))
    leaf = merkle.leaf_hash(entry_bytes(event))
    tree.append(leaf)
    AuditEvent.objects.filter(pk=event.pk).update(leaf_hash=leaf.hex(), root_after=tree.root().hex())

    report = audit_log_verify()

    assert naming(report, 3)  # the signed tree head's range
    assert naming(report, 4, events[4].id)  # the first recorded root that no longer follows


@pytest.mark.django_db
def test_forged_tree_head_is_found(aurelia):
    build_log(aurelia)
    sth = SignedTreeHead.objects.latest()
    SignedTreeHead.objects.filter(pk=sth.pk).update(root_hash="00" * 32)

    report = audit_log_verify()

    problems = [str(f) for f in report.findings]
    assert any("invalid signature" in p and f"row id {sth.pk}" in p for p in problems)


@pytest.mark.django_db
def test_garbled_signature_is_a_finding_not_a_crash(aurelia):
    build_log(aurelia)
    SignedTreeHead.objects.update(signature="not hex")
    report = audit_log_verify()
    assert [f.problem for f in report.findings if "invalid signature" in f.problem]


@pytest.mark.django_db
def test_truncated_log_is_found(aurelia):
    build_log(aurelia)
    AuditEvent.objects.filter(sequence__gte=6).delete()
    report = audit_log_verify()
    assert [(f.sequence, f.last_sequence) for f in report.findings] == [(6, 7)]
    assert "tree head was signed at size 8, but only 6 entries are present" in report.findings[0].problem


@pytest.mark.django_db
def test_truncated_unsigned_tail_is_found_by_the_log_head(aurelia):
    build_log(aurelia)
    record(aurelia, 2)
    audit_sequence()  # entries #8 and #9, not yet in a signed tree head
    AuditEvent.objects.filter(sequence__gte=8).delete()
    report = audit_log_verify()
    assert [(f.sequence, f.last_sequence) for f in report.findings] == [(8, 9)]
    assert "the log head counts 10 entries but only 8 are present" in report.findings[0].problem


@pytest.mark.django_db
def test_truncated_log_with_its_head_rewound_is_still_found(aurelia):
    build_log(aurelia)
    AuditEvent.objects.filter(sequence__gte=6).delete()
    rewrite_hashes_from(6)  # rewinds the log head to 6 entries

    report = audit_log_verify()

    assert [(f.sequence, f.last_sequence) for f in report.findings] == [(6, 7)]
    assert "tree head was signed at size 8, but only 6 entries are present" in report.findings[0].problem


@pytest.mark.django_db
def test_entry_with_its_position_removed_is_found(aurelia):
    events = build_log(aurelia)
    AuditEvent.objects.filter(sequence=3).update(sequence=None)

    report = audit_log_verify()

    assert naming(report, 3)
    assert any(f.event_id == events[3].id and "no position" in f.problem for f in report.findings)


@pytest.mark.django_db
def test_entry_appended_behind_the_sequencers_back_is_found(aurelia):
    events = build_log(aurelia)
    last = events[-1]
    forged = AuditEvent.objects.create(
        created_at=last.created_at, institution=aurelia, actor_type="system", action="forged", digest="0" * 64
    )
    tree = merkle.CompactRange()
    for e in events:
        tree.append(bytes.fromhex(e.leaf_hash))
    forged.sequence = len(events)
    leaf = merkle.leaf_hash(entry_bytes(forged))
    tree.append(leaf)
    AuditEvent.objects.filter(pk=forged.pk).update(
        sequence=forged.sequence, leaf_hash=leaf.hex(), root_after=tree.root().hex()
    )

    report = audit_log_verify()

    assert [(f.sequence, f.last_sequence) for f in report.findings] == [(8, 8)]
    assert "not written by the sequencer" in report.findings[0].problem
