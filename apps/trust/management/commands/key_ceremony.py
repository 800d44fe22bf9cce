"""Back up a signing key among officers with Shamir's secret sharing, and recover it.

    manage.py key_ceremony split --k 3 --n 5 --officer "Ana" ... --out DIR [--key-id ID]
    manage.py key_ceremony recover --share FILE --share FILE ... [--restore]

`split` writes one share file per officer into DIR (created if needed, files readable
by their owner only, never overwritten) and records the ceremony in the audit log: who,
when, k, n, the key id and the officers' names, never a share. Neither the key nor a
share is ever printed or logged. `recover` rebuilds the key from at least k shares,
checks it against the stored public key, and with `--restore` seals it under the current
master key (after the master key was lost, or when the key row itself was lost).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import node_signing_key
from apps.trust import ceremony, services


class Command(BaseCommand):
    help = "Split a signing key into officer shares (k of n), or recover it from their shares."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        split = sub.add_parser("split", help="split a key into one share file per officer")
        split.add_argument("--k", type=int, required=True, help="shares needed to recover")
        split.add_argument("--n", type=int, required=True, help="shares made, one per officer")
        split.add_argument("--officer", action="append", required=True, help="an officer's name; once per share")
        split.add_argument("--out", required=True, help="directory for the share files")
        split.add_argument("--key-id", default="", help="the key to split (default: the node's active key)")
        split.add_argument("--by", default="", help="who conducts the ceremony (default: the OS user)")
        recover = sub.add_parser("recover", help="rebuild a key from share files and check it")
        recover.add_argument("--share", action="append", required=True, help="a share file; once per share")
        recover.add_argument(
            "--restore", action="store_true", help="seal the recovered key under the current master key"
        )
        recover.add_argument("--by", default="", help="who conducts the recovery (default: the OS user)")

    def handle(self, *args, action, **options):
        conducted_by = options["by"] or _os_user()
        if action == "split":
            self._split(conducted_by=conducted_by, **options)
        else:
            self._recover(conducted_by=conducted_by, **options)

    def _split(self, *, conducted_by, k, n, officer, out, key_id, **_options):
        if key_id:
            key = SigningKey.objects.filter(key_id=key_id).first()
            if key is None:
                raise CommandError(f"No key {key_id}.")
        else:
            key = SigningKey.objects.filter(owner_type=KeyOwnerType.NODE, status=KeyStatus.ACTIVE).first()
            key = key or node_signing_key()
        directory = Path(out)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        written: list[Path] = []
        try:
            with transaction.atomic():
                record, shares = services.key_ceremony_split(
                    key=key, k=k, n=n, officers=officer, conducted_by=conducted_by
                )
                for share in shares:
                    path = directory / f"share-{share['index']}-{slugify(share['officer']) or 'officer'}.json"
                    # O_EXCL: never overwrite a share of an earlier ceremony; 0600: the officer's eyes only.
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    written.append(path)
                    with os.fdopen(fd, "w") as handle:
                        json.dump(share, handle, indent=2, sort_keys=True)
                        handle.write("\n")
        except ceremony.ShareError as exc:
            raise CommandError(str(exc)) from exc
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        except FileExistsError as exc:
            _remove(written)
            raise CommandError(f"{exc.filename} already exists; choose an empty directory.") from exc
        except BaseException:
            _remove(written)
            raise
        self.stdout.write(self.style.SUCCESS(f"Key {key.key_id} split {k} of {n} (ceremony {record.uid})."))
        for path, share in zip(written, shares, strict=True):
            self.stdout.write(f"  {share['officer']}: {path}")
        self.stdout.write("Hand each file to its officer and delete it from this machine.")

    def _recover(self, *, conducted_by, share, restore, **_options):
        parsed = []
        for name in share:
            try:
                text = Path(name).read_text()
            except OSError as exc:
                raise CommandError(f"{name}: cannot be read ({exc.strerror}).") from exc
            try:
                parsed.append(ceremony.parse_share(text, source=name))
            except ceremony.ShareError as exc:
                raise CommandError(str(exc)) from exc
        try:
            recovered, outcome = services.key_ceremony_recover(
                shares=parsed, conducted_by=conducted_by, restore=restore
            )
        except ceremony.ShareError as exc:
            raise CommandError(str(exc)) from exc
        messages = {
            "verified": "recovered and matches its public key; nothing was written (use --restore to seal it).",
            "resealed": "recovered and sealed again under the current master key.",
            "recreated": "recovered; its key row was missing and has been recreated under the current master key.",
        }
        self.stdout.write(self.style.SUCCESS(f"Key {recovered.key_id} {messages[outcome]}"))


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
