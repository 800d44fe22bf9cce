"""Demo data of the identity app: an integrator client for Ivan, and residence requests.

- Nordwind's administrator (`nils`) has registered a confidential client-credentials client
  for the integrator persona `ivan`; its secret is printed once, when it is created.
- `cyril` has asked the City of Borealis to confirm his residence; the request waits for a
  civil servant (`sofia`).
- `clara`'s residence in the City of Aurelia was approved by `sam`, so her wallet holds a
  ResidenceCredential signed by Aurelia.

Everything goes through the services, so it is audited like real data. Idempotent: each
step first looks for what it would make, so a second run writes nothing.
"""

from __future__ import annotations

from django.conf import settings
from oauth2_provider.models import Application

from apps.identity.models import ResidenceRequestStatus
from apps.identity.oauth import selectors as oauth_selectors
from apps.identity.oauth import services as oauth_services
from apps.identity.residence import selectors as residence_selectors
from apps.identity.residence import services as residence_services
from apps.tenancy.scope import institution_scope

INTEGRATOR_INSTITUTION = "nordwind"
INTEGRATOR_ADMIN = "nils"
INTEGRATOR_CLIENT_NAME = "Ivan's grid telemetry sync"
INTEGRATOR_SCOPES = ["tenancy:read", "notifications:read", "trust:read"]

# username, municipality slug, street, postcode, city, approved by (None: left waiting)
RESIDENCES = [
    ("cyril", "borealis", "12 Harbour Lane", "40210", "Borealis", None),
    ("clara", "aurelia", "3 Via del Sole", "10115", "Aurelia", "sam"),
]


def seed_demo(*, federation, stdout) -> None:
    """Idempotent: creates only what is missing."""
    _integrator_client(federation=federation, stdout=stdout)
    for username, slug, street, postcode, city, approver in RESIDENCES:
        _residence(
            federation=federation,
            stdout=stdout,
            username=username,
            slug=slug,
            street=street,
            postcode=postcode,
            city=city,
            approver=approver,
        )


def _integrator_client(*, federation, stdout) -> None:
    institution = federation.institutions.get(INTEGRATOR_INSTITUTION)
    admin = federation.users.get(INTEGRATOR_ADMIN)
    if institution is None or admin is None or federation.users.get("ivan") is None:
        return
    client = (
        oauth_selectors.integrator_clients_of(institution=institution)
        .filter(application__name=INTEGRATOR_CLIENT_NAME)
        .first()
    )
    secret = ""
    if client is None:
        with institution_scope(institution):
            issued = oauth_services.integrator_client_create(
                institution=institution,
                actor=admin,
                name=INTEGRATOR_CLIENT_NAME,
                client_type=Application.CLIENT_CONFIDENTIAL,
                grant_type=Application.GRANT_CLIENT_CREDENTIALS,
                redirect_uris=[],
                scopes=INTEGRATOR_SCOPES,
            )
        client, secret = issued.client, issued.client_secret
    client_id = client.application.client_id
    page = f"/i/{institution.slug}/integrators/{client.pk}/"
    stdout.write(f"Identity: {institution.name}'s integrator client for ivan, {INTEGRATOR_CLIENT_NAME!r}")
    stdout.write(f"  client id:     {client_id}")
    if secret:
        stdout.write(f"  client secret: {secret}   (shown this once: it is stored hashed)")
        stdout.write(
            f"  token:         curl -u '{client_id}:{secret}' -d grant_type=client_credentials "
            f"-d scope=tenancy:read {settings.CIVITAS_NODE_URL.rstrip('/')}/o/token/"
        )
    else:
        stdout.write("  client secret: shown only when the client was created (it is stored hashed).")
    stdout.write(
        f"  lost the secret? sign in as {INTEGRATOR_ADMIN} (TOTP), open {page} and choose “Rotate the secret” "
        "(the new one is shown once; the old secret and its tokens stop working)."
    )


def _residence(*, federation, stdout, username, slug, street, postcode, city, approver) -> None:
    applicant = federation.users.get(username)
    municipality = federation.institutions.get(slug)
    decider = federation.users.get(approver) if approver else None
    if applicant is None or municipality is None or (approver and decider is None):
        return
    requests = residence_selectors.residence_requests_of_applicant(user=applicant).filter(institution=municipality)
    if decider is None:
        if requests.exists():  # waiting, or already decided by someone trying the demo: leave it alone
            return
        residence_services.residence_request_submit(
            applicant=applicant, municipality=municipality, address_line1=street, postcode=postcode, city=city
        )
        stdout.write(
            f"Identity: {username}'s residence request waits in {municipality.name}'s queue (/i/{slug}/residence/)."
        )
        return
    if requests.filter(status=ResidenceRequestStatus.APPROVED).exists():
        return
    waiting = requests.filter(status=ResidenceRequestStatus.SUBMITTED).first()
    if waiting is None:
        waiting = residence_services.residence_request_submit(
            applicant=applicant, municipality=municipality, address_line1=street, postcode=postcode, city=city
        )
    with institution_scope(municipality):
        residence_services.residence_request_approve(residence_request=waiting, actor=decider)
    stdout.write(
        f"Identity: {approver} approved {username}'s residence in {municipality.name}; "
        "the ResidenceCredential is in their wallet (/wallet/)."
    )
