"""Imported by the worker that bench/clusters.py starts (`celery -A portal worker --include
_clusters_worker`): the benchmark's agents use the `redteam` test engine, which only the
process that registers it knows, and that worker is another process."""

import django

django.setup()  # already done by Celery's Django fixup when it imports this; cheap if so

from apps.agents.clusters import redteam  # noqa: E402  (needs Django set up first)

redteam.ensure_engine()
