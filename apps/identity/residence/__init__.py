"""Residence: a person proves where they live to a municipality and receives a ResidenceCredential.

- `uploads`: the supporting document, checked by its bytes and stored under a random name.
- `services`: apply, approve (issues the credential, makes the person a citizen), reject, withdraw.
- `selectors`: the municipality's queue and the applicant's own requests.
- `views`, `urls`: the applicant's pages (/residence/) and the civil servants' queue (/i/<slug>/residence/).
"""
