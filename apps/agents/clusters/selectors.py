"""Reads of clusters and runs; every one takes the institution."""

from __future__ import annotations

from collections import Counter

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.utils.translation import gettext as _

from apps.agents.models import Agent, AgentProposalRecord, Cluster, ClusterRun
from apps.tenancy.models import Institution
from portal.errors import ValidationFailed


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


def cluster_runs(*, institution: Institution, cluster: Cluster) -> QuerySet[ClusterRun]:
    """The cluster's runs, newest first, for lists: the record, documents and snapshot (up to
    200 kB a run) are not loaded; read a run through cluster_run_get for those."""
    return (
        ClusterRun.objects.filter(institution=institution, cluster=cluster)
        .defer("record", "documents", "cluster_snapshot", "weights")
        .order_by("-pk")
    )


def recent_run_status_counts(*, institution: Institution, per_cluster: int = 20) -> dict[int, Counter]:
    """Per cluster id, how many of its last `per_cluster` runs are in each status; one query."""
    ranked = (
        ClusterRun.objects.filter(institution=institution)
        .annotate(recent=Window(RowNumber(), partition_by=[F("cluster_id")], order_by=F("pk").desc()))
        .filter(recent__lte=per_cluster)
        .values_list("cluster_id", "status")
    )
    counts: dict[int, Counter] = {}
    for cluster_id, status in ranked:
        counts.setdefault(cluster_id, Counter())[status] += 1
    return counts


def stage_agents(*, institution: Institution, clusters: list[Cluster]) -> dict[str, Agent]:
    """The institution's agents named in these clusters' stages, by uid; one query.

    An uid that is not this institution's agent is left out (shown as unknown)."""
    uids = {uid for cluster in clusters for stage in cluster.stages for uid in stage.get("agents", [])}
    if not uids:
        return {}
    agents = Agent.objects.filter(institution=institution, uid__in=_valid_uuids(uids))
    return {str(agent.uid): agent for agent in agents}


def clusters_using_agent(*, institution: Institution, agent: Agent) -> list[Cluster]:
    """The institution's clusters that name this agent in a stage.

    Matched in Python: JSON containment lookups differ between SQLite and PostgreSQL, and an
    institution has few clusters."""
    uid = str(agent.uid)
    return [
        cluster
        for cluster in clusters_of(institution=institution)
        if any(uid in stage.get("agents", []) for stage in cluster.stages)
    ]


def _valid_uuids(values) -> list[str]:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


def person_concerned(*, username: str):
    """The account named as the person concerned, or None when none is named.

    Raises: ValidationFailed (on the form's `concerns` field) for an unknown user name."""
    username = (username or "").strip()
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationFailed(errors={"concerns": [_("No account has this user name.")]})
    return user


def runs_concerning(*, institution: Institution, person) -> QuerySet[ClusterRun]:
    """The runs about this person (they read the outcome and the reasons, not the staff view)."""
    return ClusterRun.objects.filter(institution=institution, concerns=person).select_related("cluster")


def run_concerning_get(*, institution: Institution, person, run_id: int) -> ClusterRun:
    """Raises: Http404 unless the run is this institution's and about this person."""
    run = runs_concerning(institution=institution, person=person).filter(pk=run_id).first()
    if run is None:
        raise Http404
    return run
