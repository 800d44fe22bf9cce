"""Aurelia's model candidate for the cross-institution sweep (tests/test_cross_institution.py).

Made on first use and kept on the sweep's world, so every route sees the same object."""

from __future__ import annotations

from apps.agents.learning.models import CandidateStatus, ModelCandidate


def sweep_candidate(world, *, agent):
    """A candidate of the sweep's agent awaiting a decision (a row only: the sweep never promotes it)."""
    if "model_candidate" not in world.__dict__:
        # fixture shortcut: training needs a statistical model; the pages only read the row
        world.__dict__["model_candidate"] = ModelCandidate.all_institutions.create(
            institution=world.aurelia,
            agent=agent,
            number=1,
            version_label=f"{agent.uid}-v1",
            status=CandidateStatus.CANDIDATE,
            trigger="manual",
            base_artefact="fixtures/agents/models/permit-v1.joblib",
            base_artefact_sha256="0" * 64,
            evaluation={"current": {}, "candidate": {}, "held_out": 0},
        )
    return world.__dict__["model_candidate"]
