"""`manage.py audit verify|sequence|sign`: operate the transparency log from a shell."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit import selectors, services
from apps.audit.verify import audit_log_verify


class Command(BaseCommand):
    help = "Operate the transparency log: verify it, sequence pending events, sign a tree head."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify,sequence,sign}")
        verify = commands.add_parser(
            "verify",
            help="Recompute every entry, root and signature; exit 1 on any finding.",
            description="Recompute every entry, root and signature; exit 1 on any finding.",
        )
        verify.add_argument(
            "--chunk-size",
            type=int,
            default=5000,
            help="Entries read per database round trip, and how often progress is shown (default 5000).",
        )
        commands.add_parser(
            "sequence",
            help="Give committed events their positions now.",
            description="Give committed events their positions now (the beat task does this every few seconds).",
        )
        sign = commands.add_parser(
            "sign",
            help="Sequence pending events, then sign a tree head if the log grew.",
            description="Sequence pending events, then sign a tree head if the log grew.",
        )
        sign.add_argument("--force", action="store_true", help="Sign even if the log did not grow.")

    def handle(self, *args, subcommand: str, **options) -> None:
        getattr(self, f"handle_{subcommand}")(**options)

    def handle_verify(self, *, chunk_size: int, **options) -> None:
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        total = selectors.log_size()
        show_progress = total > chunk_size

        def progress(done: int) -> None:
            if show_progress:
                self.stderr.write(f"verified {done} of {total} entries ({100 * done // max(total, 1)}%)")

        report = audit_log_verify(progress=progress, chunk_size=chunk_size)
        self.stdout.write(f"entries:    {report.entries}")
        self.stdout.write(f"tree heads: {report.tree_heads}")
        self.stdout.write(f"root:       {report.root_hash}")
        if report.ok:
            self.stdout.write(self.style.SUCCESS("OK: the log verifies."))
            return
        self.stdout.write(self.style.ERROR(f"FAILED: {len(report.findings)} finding(s):"))
        for finding in report.findings:
            self.stdout.write(f"  {finding}")
        raise CommandError(f"The log failed verification with {len(report.findings)} finding(s).", returncode=1)

    def handle_sequence(self, **options) -> None:
        count = services.audit_sequence()
        self.stdout.write(f"sequenced {count} event(s); the log holds {selectors.log_size()} entries")

    def handle_sign(self, *, force: bool, **options) -> None:
        sth = services.audit_tree_head_sign(force=force)
        if sth is None:
            size = selectors.log_size()
            self.stdout.write(f"the log did not grow since the last tree head (size {size}); nothing signed")
            return
        self.stdout.write(
            f"signed tree head: size {sth.tree_size}, root {sth.root_hash}, "
            f"at {sth.timestamp.isoformat()}, key {sth.key.key_id}"
        )
