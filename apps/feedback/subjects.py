"""What a council can review: each domain registers its subject type once, with how to apply a verdict.

A domain (agents' cluster runs, permits, budgets, payments...) calls `register_subject` from
its AppConfig.ready(). The council never changes a domain's objects itself: it calls the
domain's `apply`, which goes through the domain's own service and guarded transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ApplyVerdict = Callable[..., None]  # apply(*, item, actor) -> None; raises ApplicationError to refuse
Learn = Callable[..., None]  # learn(*, item) -> None; runs after commit, in a Celery task
CitizenUrl = Callable[..., str]  # citizen_url(*, item) -> the page where the person concerned sees it


@dataclass(frozen=True)
class ReviewSubject:
    type: str  # e.g. "agents.cluster_run"
    label: str
    apply: ApplyVerdict
    learn: Learn | None = None
    citizen_url: CitizenUrl | None = None


_SUBJECTS: dict[str, ReviewSubject] = {}


def register_subject(subject: ReviewSubject) -> ReviewSubject:
    """Idempotent for the same subject; a different subject under a taken name is a bug."""
    existing = _SUBJECTS.get(subject.type)
    if existing is not None and existing != subject:
        raise RuntimeError(f"review subject {subject.type!r} is already registered")
    _SUBJECTS[subject.type] = subject
    return subject


def subject_for(subject_type: str) -> ReviewSubject | None:
    return _SUBJECTS.get(subject_type)


def registered_subjects() -> list[str]:
    return sorted(_SUBJECTS)


def plain(value: Any) -> Any:
    """A JSON-safe copy (cases are stored as JSON)."""
    import json

    return json.loads(json.dumps(value, default=str))
