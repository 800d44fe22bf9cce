"""W3C Verifiable Credentials 2.0 with Data Integrity proofs (cryptosuite eddsa-jcs-2022).

- `dataintegrity`: the cryptosuite itself (JCS canonicalisation, hashes, Ed25519, multibase).
- `services`: issue, revoke, suspend, reinstate (every app issues through `credential_issue`).
- `verify`: verify a credential or a presentation; `present`: sign a presentation.
- `status`: Bitstring Status Lists, published and read.
"""
