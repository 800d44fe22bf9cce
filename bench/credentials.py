"""Verifiable credential issue and verify rates on one core, beside raw Ed25519.

One process, one thread. Measures, each for a fixed time:
- raw Ed25519 sign and verify of a 64-byte message (`cryptography`), the floor;
- the eddsa-jcs-2022 proof alone (JCS canonicalisation, two SHA-256, Ed25519), no database;
- `credential_issue` end to end: unseal the institution's key, allocate two status-list
  entries, sign, store, audit, commit;
- `verify_credential` end to end on a stored credential: resolve the issuer's did:web
  from the database, check the proof, the validity period and both status bits.

    DJANGO_DEBUG=true .venv/bin/python bench/credentials.py [--seconds 5]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/civitas_bench (created if missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common


def rate(label: str, func, seconds: float) -> float:
    func()  # warm up
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        func()
        n += 1
    per_second = n / (time.perf_counter() - start)
    print(f"{label:<58} {per_second:>10,.0f} /s   ({1000 / per_second:.3f} ms each)")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measure")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    url = _common.database_url()
    if url.startswith("postgres"):
        _common.ensure_database(url)
    _common.setup_django(url)
    _common.migrate()

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.db import transaction

    from apps.identity.credentials import dataintegrity
    from apps.identity.credentials.services import credential_issue
    from apps.identity.credentials.verify import verify_credential
    from apps.tenancy.scope import institution_scope

    print(_common.machine(), "— one core\n")
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    message = os.urandom(64)
    signature = private.sign(message)
    rate("raw Ed25519 sign (cryptography)", lambda: private.sign(message), args.seconds)
    rate("raw Ed25519 verify (cryptography)", lambda: public.verify(signature, message), args.seconds)

    institution = _common.bench_institution()
    subject = {"id": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", "permit": "Market stall", "plot": 17}
    with institution_scope(institution):
        sample = credential_issue(institution=institution, subject=subject, types=["PermitCredential"])
    unsecured = {k: v for k, v in sample.document.items() if k != "proof"}
    proof_options = {
        "verification_method": sample.document["proof"]["verificationMethod"],
        "proof_purpose": "assertionMethod",
        "created": "2026-01-01T00:00:00Z",
    }
    secured = dataintegrity.secure(unsecured, sign=private.sign, **proof_options)
    raw_public = public.public_bytes_raw()
    rate(
        "eddsa-jcs-2022 proof create (no database)",
        lambda: dataintegrity.proof_create(unsecured, sign=private.sign, **proof_options),
        args.seconds,
    )
    rate(
        "eddsa-jcs-2022 proof verify (no database)",
        lambda: dataintegrity.proof_verify(secured, secured["proof"], raw_public),
        args.seconds,
    )

    def issue():
        with institution_scope(institution), transaction.atomic():
            credential_issue(institution=institution, subject=subject, types=["PermitCredential"])

    rate("credential_issue (sign, status entries, store, audit, commit)", issue, args.seconds)

    def verify():
        result = verify_credential(sample.document)
        assert result["verified"], result

    rate("verify_credential (did:web from the database, status bits)", verify, args.seconds)


if __name__ == "__main__":
    main()
