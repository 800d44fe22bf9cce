"""DOT's request validator, bound to institutions.

- every client must be an `IntegratorClient` (an application made in the admin without
  one is refused every grant);
- a client-credentials token belongs to the client's service user, an `integrator`
  member of its institution, so the API's membership and role checks apply to it too;
- ID tokens and userinfo carry the standard claims of the granted scopes and the
  client's institution.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from oauth2_provider.oauth2_validators import OAuth2Validator

from apps.identity.oauth.selectors import integrator_for_application


class CivitasOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "civitas_institution": "openid"}

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        integrator = integrator_for_application(client)
        if integrator is None:
            return False
        if grant_type == "client_credentials" and (
            integrator.service_user is None or not integrator.service_user.is_active
        ):
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        if integrator_for_application(client) is None:
            return False
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        if request.grant_type == "client_credentials":
            # DOT leaves user empty; the client acts as its service user instead.
            request.user = integrator_for_application(request.client).service_user
        return super()._create_access_token(expires, request, token, source_refresh_token)

    def get_additional_claims(self, request):
        user = request.user
        client = getattr(request, "client", None)
        if client is None and getattr(request, "access_token", None) is not None:
            client = request.access_token.application
        integrator = integrator_for_application(client)
        return {
            "name": str(user),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists(),
            "civitas_institution": integrator.institution.slug if integrator else "",
        }
