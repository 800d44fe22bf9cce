"""What models of every app share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from portal.errors import InvalidTransition


class GuardedStatus:
    """One guarded transition per status change (house rule 2), for a model with a `status`
    field whose choices label the statuses.

    The model sets `TRANSITIONS` ({from: {to, ...}}) and `transition_error`, its own sentence
    (so that each reads well in every language), and puts what goes with a change (a
    timestamp, the status it came from) in `on_transition`. Nothing else sets `status`."""

    TRANSITIONS: ClassVar[Mapping[Any, set]] = {}
    transition_error: ClassVar[Any] = _("“%(current)s” cannot become “%(new)s”.")

    def transition_to(self, status: str) -> None:
        """Raises: InvalidTransition."""
        current = self.status
        if status not in self.TRANSITIONS.get(current, set()):
            labels = dict(self._meta.get_field("status").choices)
            raise InvalidTransition(
                self.transition_error % {"current": labels.get(current, current), "new": labels.get(status, status)}
            )
        self.status = status
        self.on_transition(current, status)

    def on_transition(self, previous: str, status: str) -> None:
        """What goes with the change (timestamps and the like); nothing by default."""
