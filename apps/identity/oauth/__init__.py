"""The portal as OAuth2 / OpenID Connect provider for integrators (django-oauth-toolkit).

Every client is an `IntegratorClient`: a DOT `Application` bound to one institution.
Its tokens work only on that institution's API routes (`portal.api.InstitutionScopedAPIView`
enforces the binding and the scopes); a client-credentials client acts as its own
service user, an `integrator` member of the institution.
"""
