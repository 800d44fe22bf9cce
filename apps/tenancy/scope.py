"""The institution in scope for this request, websocket, task or command.

Tenant-owned models refuse to query without one (see `InstitutionOwned`). Code that
must cross institutions says so explicitly with the `all_institutions` manager.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.tenancy.models import Institution

_current_institution: ContextVar[Institution | None] = ContextVar("civitas_institution", default=None)


class TenancyScopeMissing(RuntimeError):
    """A tenant-owned model was queried with no institution in scope."""


class TenancyViolation(RuntimeError):
    """A tenant-owned row was written for an institution other than the one in scope."""


def current_institution() -> Institution | None:
    return _current_institution.get()


def activate_institution(institution: Institution) -> None:
    _current_institution.set(institution)


def deactivate_institution() -> None:
    _current_institution.set(None)


@contextmanager
def institution_scope(institution: Institution) -> Iterator[Institution]:
    """Run a block (a management command, a test, a task) inside one institution."""
    token = _current_institution.set(institution)
    try:
        yield institution
    finally:
        _current_institution.reset(token)


def institution_task(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a Celery task body that takes `institution_id`: it runs in that scope.

    The task body still receives `institution_id`; a missing institution is a
    permanent error, so it raises instead of retrying.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, institution_id: int, **kwargs: Any) -> Any:
        from apps.tenancy.models import Institution

        institution = Institution.objects.get(pk=institution_id)
        with institution_scope(institution):
            return func(*args, institution_id=institution_id, **kwargs)

    return wrapper
