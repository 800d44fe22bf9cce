"""Red-team the clusters: agents that fabricate, contradict or overstep, and whether they are caught.

    python manage.py agents_redteam [--runs N]

Nothing stays in the database: the throwaway institutions and runs are rolled back.
The last line is `caught=X total=Y unflagged_fabrications=Z out_of_scope_acted=W`.
"""

from django.core.management.base import BaseCommand

from apps.agents.clusters.redteam_check import redteam_check


class Command(BaseCommand):
    help = "Run throwaway clusters with lying or out-of-scope agents and count what is caught."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=60, help="How many red-team runs (default 60).")

    def handle(self, *args, runs: int, **options):
        self.stdout.write(redteam_check(runs=max(1, runs)).line())
