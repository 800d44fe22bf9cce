"""The one error type every domain raises; the API and the web UI render it."""

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    """A domain error with a stable machine-readable `code` and a message for people.

    `status` is the HTTP status the API answers with; `extra` adds members to the
    problem+json document (never secrets, never another institution's data).
    """

    code = "application_error"
    status = 400
    title = _("The request could not be completed.")

    def __init__(self, message: str | None = None, *, code: str | None = None, extra: dict | None = None):
        self.message = str(message or self.title)
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)

    def with_status(self, status: int) -> "ApplicationError":
        self.status = status
        return self


class ValidationFailed(ApplicationError):
    code = "validation_failed"
    status = 400
    title = _("Some of the information given is not valid.")

    def __init__(self, message: str | None = None, *, errors: dict | None = None, code: str | None = None):
        super().__init__(message, code=code, extra={"errors": errors or {}})


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403
    title = _("You are not allowed to do this.")


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    title = _("Not found.")


class InvalidTransition(ApplicationError):
    code = "invalid_transition"
    status = 409
    title = _("This change is not possible in the object's current state.")


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    title = _("The request conflicts with the current state.")
