"""Appending in the caller's transaction, sequencing, and signing tree heads."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from apps.audit import merkle
from apps.audit.canonical import instance_digest
from apps.audit.models import ActorType, AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import (
    AuditOutsideTransaction,
    audit_append,
    audit_sequence,
    audit_tree_head_sign,
    entry_bytes,
    tree_head_message,
)
from apps.audit.tests.helpers import record, sequenced_log
from apps.audit.verify import audit_log_verify
from apps.identity import keys


class Boom(Exception):
    pass


def _positions() -> list[int]:
    return list(
        AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence").values_list("sequence", flat=True)
    )


# --- append ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_append_records_actor_target_and_digest_of_the_new_state(aurelia, alice):
    with transaction.atomic():
        event = audit_append(
            institution=aurelia, actor=alice, action="tenancy.institution.rename", target=aurelia, changes={"a": 1}
        )
    event.refresh_from_db()
    assert event.institution_id == aurelia.pk
    assert (event.actor_type, event.actor_id, event.actor_label) == (ActorType.USER, str(alice.pk), "alice")
    assert (event.target_type, event.target_id) == ("tenancy.institution", str(aurelia.pk))
    assert event.digest == instance_digest(aurelia)
    assert event.changes == {"a": 1}
    assert event.sequence is None  # positions come from the sequencer, after commit
    assert event.leaf_hash == ""


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_raises_and_records_nothing(aurelia):
    with pytest.raises(AuditOutsideTransaction):
        audit_append(institution=aurelia, actor=None, action="test.orphan")
    assert not AuditEvent.objects.filter(action="test.orphan").exists()


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_leaves_no_event_and_no_gap(aurelia):
    record(aurelia, 1, action="test.kept")
    with pytest.raises(Boom), transaction.atomic():
        audit_append(institution=aurelia, actor=None, action="test.rolled_back")
        raise Boom
    record(aurelia, 1, action="test.kept")

    assert not AuditEvent.objects.filter(action="test.rolled_back").exists()
    assert list(AuditEvent.objects.order_by("sequence").values_list("action", "sequence")) == [
        ("test.kept", 0),
        ("test.kept", 1),
    ]
    assert LogHead.objects.get(pk=1).tree_size == 2


@pytest.mark.django_db(transaction=True)
def test_commit_sequences_the_event_without_anyone_asking(aurelia):
    with transaction.atomic():
        event = audit_append(institution=aurelia, actor=None, action="test.event")
        event.refresh_from_db()
        assert event.sequence is None  # not before commit: a rollback must leave no gap
    event.refresh_from_db()
    assert event.sequence == 0
    assert event.leaf_hash == merkle.leaf_hash(entry_bytes(event)).hex()


@pytest.mark.django_db
def test_one_transaction_asks_for_sequencing_once(aurelia, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for i in range(3):
            audit_append(institution=aurelia, actor=None, action="test.event", changes={"i": i})
    assert len(callbacks) == 1
    assert _positions() == [0, 1, 2]


@pytest.mark.django_db
def test_event_in_a_rolled_back_savepoint_is_neither_kept_nor_sequenced(aurelia, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom), transaction.atomic():
        audit_append(institution=aurelia, actor=None, action="test.rolled_back")
        raise Boom
    assert callbacks == []
    assert not AuditEvent.objects.exists()


# --- sequence -------------------------------------------------------------------------


@pytest.mark.django_db
def test_sequencer_gives_contiguous_positions_and_the_roots_of_each_prefix(aurelia):
    record(aurelia, 7)
    assert audit_sequence(batch_size=3) == 7  # three batches, carried on through the log head

    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == list(range(7))
    leaves = [merkle.leaf_hash(entry_bytes(e)) for e in events]
    for i, event in enumerate(events):
        assert event.leaf_hash == leaves[i].hex()
        assert event.root_after == merkle.root(leaves[: i + 1]).hex()
    head = LogHead.objects.get(pk=1)
    assert head.tree_size == 7
    assert head.root_hash == merkle.root(leaves).hex()


@pytest.mark.django_db
def test_sequencer_is_idempotent_and_extends_the_same_tree(aurelia):
    first = sequenced_log(aurelia, 3)
    assert audit_sequence() == 0
    assert [e.sequence for e in first] == [0, 1, 2]
    record(aurelia, 2)
    assert audit_sequence() == 2
    events = list(AuditEvent.objects.order_by("sequence"))
    leaves = [bytes.fromhex(e.leaf_hash) for e in events]
    assert events[-1].root_after == merkle.root(leaves).hex()
    assert audit_log_verify().ok


@pytest.mark.django_db
def test_entry_bytes_bind_the_position(aurelia):
    event = sequenced_log(aurelia, 1)[0]
    moved = AuditEvent(**{f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields})
    moved.sequence = event.sequence + 1
    assert entry_bytes(moved) != entry_bytes(event)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_postgresql_give_a_gap_free_log_that_verifies(aurelia):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent connections need PostgreSQL")
    writers, per_writer = 4, 20
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                try:
                    # Each commit runs the sequencer (Celery eager) in this thread: four
                    # sequencers race for the log head's row lock.
                    with transaction.atomic():
                        audit_append(
                            institution=aurelia, actor=f"writer-{n}", action="test.concurrent", changes={"i": i}
                        )
                        if i % 5 == 4:
                            raise Boom  # a failed domain write: its event must leave no gap
                except Boom:
                    pass
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    audit_sequence()

    committed = writers * per_writer * 4 // 5
    assert AuditEvent.objects.count() == committed
    assert _positions() == list(range(committed))
    assert LogHead.objects.get(pk=1).tree_size == committed
    audit_tree_head_sign()
    report = audit_log_verify()
    assert report.ok, [str(f) for f in report.findings]
    assert report.entries == AuditEvent.objects.count()


# --- tree heads -----------------------------------------------------------------------


@pytest.mark.django_db
def test_tree_head_signs_the_sequenced_log_with_the_node_key(aurelia):
    record(aurelia, 4)  # left pending: signing sequences first
    sth = audit_tree_head_sign()

    size = AuditEvent.objects.filter(sequence__isnull=False).count()
    assert size >= 4  # the node key's creation is itself an event
    assert sth.tree_size == size
    leaves = [bytes.fromhex(h) for h in AuditEvent.objects.order_by("sequence").values_list("leaf_hash", flat=True)]
    assert sth.root_hash == merkle.root(leaves).hex()
    assert sth.key.owner_type == "node"
    message = tree_head_message(
        tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp_iso=sth.timestamp.isoformat()
    )
    assert keys.verify(sth.key.public_key, bytes.fromhex(sth.signature), message)
    # The signature covers size, root and time: change any and it no longer holds.
    for altered in (
        tree_head_message(
            tree_size=sth.tree_size + 1, root_hash=sth.root_hash, timestamp_iso=sth.timestamp.isoformat()
        ),
        tree_head_message(tree_size=sth.tree_size, root_hash="00" * 32, timestamp_iso=sth.timestamp.isoformat()),
        tree_head_message(tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp_iso="2000-01-01T00:00:00+00:00"),
    ):
        assert not keys.verify(sth.key.public_key, bytes.fromhex(sth.signature), altered)


@pytest.mark.django_db
def test_signature_still_verifies_after_a_round_trip_through_the_database(aurelia):
    record(aurelia, 2)
    sth = SignedTreeHead.objects.get(pk=audit_tree_head_sign().pk)
    message = tree_head_message(
        tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp_iso=sth.timestamp.isoformat()
    )
    assert keys.verify(sth.key.public_key, bytes.fromhex(sth.signature), message)


@pytest.mark.django_db
def test_tree_head_is_signed_again_only_when_the_log_grew_or_forced(aurelia):
    record(aurelia, 2)
    first = audit_tree_head_sign()
    assert first is not None
    assert audit_tree_head_sign() is None
    assert SignedTreeHead.objects.count() == 1

    forced = audit_tree_head_sign(force=True)
    assert forced.tree_size == first.tree_size
    record(aurelia, 1)
    grown = audit_tree_head_sign()
    assert grown.tree_size == first.tree_size + 1
    assert SignedTreeHead.objects.count() == 3


@pytest.mark.django_db
def test_empty_log_signs_the_empty_root():
    sth = audit_tree_head_sign()
    # Creating the node key appended (and sequencing gave a position to) one event.
    assert sth.tree_size == AuditEvent.objects.count()
    assert audit_log_verify().ok
