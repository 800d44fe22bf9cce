"""Writes of the wallet: presenting a credential to a verifier."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.identity.credentials.present import presentation_create, user_key
from apps.identity.credentials.services import user_did_ensure
from apps.identity.models import Credential, Presentation, User
from apps.identity.wallet.selectors import holder_dids
from portal.errors import PermissionDenied, ValidationFailed

CHALLENGE_MAX_CHARS = 200
DOMAIN_MAX_CHARS = 200


@transaction.atomic
def wallet_presentation_create(
    *, holder: User, credential: Credential, challenge: str, domain: str = ""
) -> Presentation:
    """Sign a presentation of one held credential for a verifier's challenge (and domain) with the holder's did:key.

    Raises: ValidationFailed, PermissionDenied."""
    challenge, domain = (challenge or "").strip(), (domain or "").strip()
    errors: dict[str, list[str]] = {}
    if not challenge:
        errors["challenge"] = [_("Enter the challenge the verifier gave you.")]
    elif len(challenge) > CHALLENGE_MAX_CHARS:
        errors["challenge"] = [_("Keep the challenge under %(n)s characters.") % {"n": CHALLENGE_MAX_CHARS}]
    if len(domain) > DOMAIN_MAX_CHARS:
        errors["domain"] = [_("Keep the domain under %(n)s characters.") % {"n": DOMAIN_MAX_CHARS}]
    if errors:
        raise ValidationFailed(errors=errors)
    if credential.subject_id not in holder_dids(user=holder):
        raise PermissionDenied(_("Only the person a credential was issued to can present it."))
    user_did_ensure(user=holder)
    document = presentation_create(
        holder_key=user_key(user=holder), credentials=[credential.document], challenge=challenge, domain=domain
    )
    presentation = Presentation.objects.create(
        uuid=uuid.uuid4(),
        holder=holder,
        credential=credential,
        challenge=challenge,
        domain=domain,
        document=document,
    )
    audit_append(
        institution=None,  # the holder's act, not the issuer's: it stays out of the institution's log view
        actor=holder,
        action="identity.wallet.present",
        target=presentation,
        changes={"credential": str(credential.uuid), "challenge": challenge, "domain": domain},
    )
    return presentation
