"""Reads of clusters and runs; every one takes the institution."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.agents.models import AgentProposalRecord, Cluster, ClusterRun
from apps.tenancy.models import Institution


def clusters_of(*, institution: Institution) -> QuerySet[Cluster]:
    return Cluster.objects.filter(institution=institution)


def cluster_get(*, institution: Institution, cluster_id: int) -> Cluster:
    """Raises: Http404 when the cluster is not this institution's."""
    cluster = Cluster.objects.filter(institution=institution, pk=cluster_id).first()
    if cluster is None:
        raise Http404
    return cluster


def cluster_run_get(*, institution: Institution, run_id: int) -> ClusterRun:
    """Raises: Http404 when the run is not this institution's."""
    run = ClusterRun.objects.filter(institution=institution, pk=run_id).select_related("cluster").first()
    if run is None:
        raise Http404
    return run


def run_proposals(*, institution: Institution, run: ClusterRun) -> QuerySet[AgentProposalRecord]:
    return AgentProposalRecord.objects.filter(institution=institution, run=run).select_related("agent")
