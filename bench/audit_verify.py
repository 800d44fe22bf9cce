"""Time `audit_log_verify` over a log of 100,000 entries on PostgreSQL.

Bulk-creates the events (not timed), sequences them (timed: the sequencer's batch
throughput), signs a tree head, then times a full verification, and one inclusion proof
at that size (what the auditor's event page computes).

    DJANGO_DEBUG=true .venv/bin/python bench/audit_verify.py [--entries 100000]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/civitas_bench (created if missing).
"""

from __future__ import annotations

import argparse
import resource
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()

    url = _common.database_url()
    _common.ensure_database(url)
    _common.setup_django(url)
    _common.migrate()
    from django.utils import timezone

    from apps.audit import merkle, selectors
    from apps.audit.models import ActorType, AuditEvent, SignedTreeHead
    from apps.audit.services import audit_sequence, audit_tree_head_sign
    from apps.audit.verify import audit_log_verify
    from apps.identity.services import node_signing_key

    _common.reset_log()
    institution = _common.bench_institution()
    node_signing_key()
    print(f"machine:  {_common.machine()}")
    print(f"database: {url}\n")

    start = timezone.now() - timedelta(days=30)
    with _common.Timer() as creating:
        batch: list[AuditEvent] = []
        for i in range(args.entries):
            batch.append(
                AuditEvent(
                    created_at=start + timedelta(seconds=i),
                    institution=institution,
                    actor_type=ActorType.USER,
                    actor_id=f"did:key:z6Mk{i % 97:04d}",
                    actor_label=f"user{i % 97}",
                    action=("permits.permit.approve", "budgets.vote.cast", "documents.version.create")[i % 3],
                    target_type="bench.thing",
                    target_id=str(i),
                    digest=f"{i:064x}",
                    changes={"n": i, "status": "approved", "amount": "125.00"},
                )
            )
            if len(batch) == 5000:
                AuditEvent.objects.bulk_create(batch)
                batch = []
        AuditEvent.objects.bulk_create(batch)
    print(f"bulk-created {args.entries} events in {creating.seconds:.1f} s (not part of the figures)")

    with _common.Timer() as sequencing:
        sequenced = audit_sequence()
    print(
        f"sequencing:       {sequenced} entries in {sequencing.seconds:.2f} s "
        f"({sequenced / sequencing.seconds:,.0f} entries/s, batches of 2000)"
    )
    sth = audit_tree_head_sign(force=True)
    assert SignedTreeHead.objects.count() == 1

    with _common.Timer() as verifying:
        report = audit_log_verify()
    assert report.ok, report.findings[:5]
    assert report.root_hash == sth.root_hash
    print(
        f"verify:           {report.entries} entries, {report.tree_heads} tree head in {verifying.seconds:.2f} s "
        f"({report.entries / verifying.seconds:,.0f} entries/s)"
    )

    middle = sth.tree_size // 2
    with _common.Timer() as proving:
        path = selectors.inclusion_proof(sequence=middle, tree_size=sth.tree_size)
    leaf = bytes.fromhex(selectors.leaf_hash_at(sequence=middle))
    assert merkle.verify_inclusion(
        leaf=leaf,
        index=middle,
        size=sth.tree_size,
        proof=[bytes.fromhex(h) for h in path],
        expected_root=bytes.fromhex(sth.root_hash),
    )
    print(f"inclusion proof:  entry #{middle} of {sth.tree_size} in {proving.seconds * 1000:.0f} ms")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
