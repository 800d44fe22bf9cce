"""Reads of learning from verdicts; every one takes the institution."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.agents.learning.models import CandidateStatus, ModelCandidate, TrainingExample
from apps.agents.models import Agent
from apps.tenancy.models import Institution


@dataclass(frozen=True)
class LearningSummary:
    examples: int
    held_out: int
    labels: dict[str, int]
    first_item: int | None
    last_item: int | None
    since_last_candidate: int
    retrain_every: int
    training: bool

    @property
    def trained_on(self) -> int:
        return self.examples - self.held_out


def examples_of(*, institution: Institution, agent: Agent) -> QuerySet[TrainingExample]:
    return TrainingExample.objects.filter(institution=institution, agent=agent)


def candidates_of(*, institution: Institution, agent: Agent) -> QuerySet[ModelCandidate]:
    return ModelCandidate.objects.filter(institution=institution, agent=agent).select_related(
        "requested_by", "decided_by"
    )


def candidate_get(*, institution: Institution, agent: Agent, candidate_id: int) -> ModelCandidate:
    """Raises: Http404 when the candidate is not this agent's in this institution."""
    candidate = candidates_of(institution=institution, agent=agent).filter(pk=candidate_id).first()
    if candidate is None:
        raise Http404
    candidate.agent = agent
    return candidate


def learning_summary(*, institution: Institution, agent: Agent) -> LearningSummary:
    from apps.agents.learning.services import retrain_every

    rows = list(examples_of(institution=institution, agent=agent).values_list("pk", "label", "held_out", "source_item"))
    last = candidates_of(institution=institution, agent=agent).order_by("-number").first()
    upto = last.examples_upto if last else 0
    items = [row[3] for row in rows]
    return LearningSummary(
        examples=len(rows),
        held_out=sum(1 for row in rows if row[2]),
        labels=dict(sorted(Counter(row[1] for row in rows).items())),
        first_item=min(items) if items else None,
        last_item=max(items) if items else None,
        since_last_candidate=sum(1 for row in rows if row[0] > upto),
        retrain_every=retrain_every(agent),
        training=bool(last and last.status == CandidateStatus.TRAINING),
    )
