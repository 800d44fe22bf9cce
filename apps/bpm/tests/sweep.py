"""Aurelia's BPM objects for the cross-institution sweep (tests/test_cross_institution.py)."""

from __future__ import annotations


def sweep_instance(world):
    """A running instance of Aurelia's review process, waiting in its user task; made once per world."""
    if "bpm_instance" not in world.__dict__:
        from apps.bpm.tests.factories import start, upload

        version = upload(world.aurelia, world.ada)
        world.__dict__["bpm_instance"] = start(version, world.ada, {"crowd": 600})
    return world.__dict__["bpm_instance"]


def sweep_work_item(world):
    from apps.bpm.models import WorkItem

    return WorkItem.all_institutions.get(instance=sweep_instance(world))
