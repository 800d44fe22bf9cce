"""Helpers of the BPM tests (and the cross-institution sweep)."""

from __future__ import annotations

from pathlib import Path

from apps.tenancy.scope import institution_scope

BPMN_DIR = Path(__file__).parent / "bpmn"


def bpmn(name: str) -> bytes:
    return (BPMN_DIR / name).read_bytes()


def upload(institution, admin, name: str = "review_gateway.bpmn"):
    from apps.bpm import services

    with institution_scope(institution):
        return services.definition_upload(institution=institution, actor=admin, file_name=name, content=bpmn(name))


def start(version, actor, data=None):
    from apps.bpm import services

    with institution_scope(version.institution):
        return services.instance_start(definition=version.definition, actor=actor, data=data or {})
