"""Re-run a council's draw by lot from its record and say whether it holds.

    python manage.py council_draw_verify <draw_id>

Prints the recorded and the recomputed quotas and selection; exits 1 when they differ
(or the record cannot be re-run), 0 when they match. A draw's record is public (it
holds pseudonyms only), so this reads across institutions.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from apps.feedback import draw as sortition
from apps.feedback.models import CouncilDraw


class Command(BaseCommand):
    help = "Re-run a council's draw by lot from its record; exits non-zero when it does not verify."

    def add_arguments(self, parser):
        parser.add_argument("draw_id", type=int)

    def handle(self, *args, draw_id: int, **options):
        # tenancy: a draw's record is public by design (seed, pseudonyms, strata, quotas)
        record = CouncilDraw.all_institutions.filter(pk=draw_id).select_related("council", "institution").first()
        if record is None:
            raise CommandError(f"No draw {draw_id}.")
        out = self.stdout
        out.write(f"Draw {record.pk} of council {record.council_id} ({record.council.name}, {record.institution.slug})")
        out.write(f"algorithm: {record.algorithm}")
        out.write(f"seed: {record.seed}")
        out.write(f"seats: {record.seats}; strata: {', '.join(record.strata_fields) or '-'}")
        out.write(f"candidates: {len(record.candidates)}")
        out.write(f"recorded quotas:   {json.dumps(record.quotas, sort_keys=True, ensure_ascii=False)}")
        out.write(f"recorded selected: {' '.join(record.selected)}")
        try:
            result = sortition.recompute(record)
        except sortition.DrawError as error:
            out.write(f"cannot re-run: {error}")
            raise CommandError("The draw does not verify.", returncode=1) from None
        out.write(f"re-run quotas:     {json.dumps(result.quotas, sort_keys=True, ensure_ascii=False)}")
        out.write(f"re-run selected:   {' '.join(result.selected)}")
        if not sortition.verify(record):
            raise CommandError("MISMATCH: the draw does not verify.", returncode=1)
        out.write(self.style.SUCCESS("OK: the re-run gives the recorded quotas and selection."))
