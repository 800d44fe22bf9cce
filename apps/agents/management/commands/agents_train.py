"""Train the statistical engine's model from a CSV of past decisions.

    python manage.py agents_train --dataset fixtures/agents/permit_decisions.csv \
        --out var/models/permit-v2 [--model-version permit-v2] [--seed 0]

writes var/models/permit-v2.joblib and its manifest var/models/permit-v2.json.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.agents.engines.statistical import ModelArtefactError, train_model


class Command(BaseCommand):
    help = "Train a statistical engine model on past decisions; writes the artefact and its JSON manifest."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, type=Path, help="CSV of past decisions, one row each.")
        parser.add_argument("--out", required=True, type=Path, help="Artefact path (.joblib; the manifest is .json).")
        parser.add_argument("--model-version", help="Version recorded in the manifest (default: the file name).")
        parser.add_argument("--label", default="decision", help="The column holding the decision.")
        parser.add_argument("--positive", help="The decision the model estimates the probability of.")
        parser.add_argument(
            "--exclude", default="application_id", help="Comma-separated columns that are not features."
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        dataset = Path(options["dataset"])
        if not dataset.is_file():
            raise CommandError(f"No dataset at {dataset}.")
        try:
            manifest = train_model(
                dataset=dataset,
                out=Path(options["out"]),
                model_version=options["model_version"],
                label=options["label"],
                positive=options["positive"],
                exclude=[c.strip() for c in options["exclude"].split(",") if c.strip()],
                seed=options["seed"],
            )
        except ModelArtefactError as exc:
            raise CommandError(exc.message) from exc
        metrics = manifest["metrics"]
        out = Path(options["out"]).with_suffix(".joblib")
        self.stdout.write(
            f"Trained {manifest['model_version']} on {metrics['training_rows']} rows "
            f"(held out {metrics['held_out_rows']}): accuracy {metrics['accuracy']}, ROC AUC {metrics['roc_auc']}, "
            f"Brier {metrics['calibration']['brier_score']}, "
            f"ECE {metrics['calibration']['expected_calibration_error']}."
        )
        self.stdout.write(
            f"Artefact {out} (sha256 {manifest['artefact_sha256']}), manifest {out.with_suffix('.json')}."
        )
