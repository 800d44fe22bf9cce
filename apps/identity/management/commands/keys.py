"""Manage signing keys: `keys list|rotate|retire|rewrap|generate-master-key`."""

from django.core.management.base import BaseCommand, CommandError

from apps.identity import keys as keymaterial
from apps.identity import services
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey


class Command(BaseCommand):
    help = "List, rotate and retire signing keys; re-encrypt them after a master-key rotation."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list keys (public parts only)")
        rotate = sub.add_parser("rotate", help="create a new active key for an owner, retiring the old one")
        rotate.add_argument("--owner-type", choices=KeyOwnerType.values, default=KeyOwnerType.NODE)
        rotate.add_argument("--owner-id", default="")
        retire = sub.add_parser("retire", help="retire a key: it stops signing but still verifies")
        retire.add_argument("key_id")
        sub.add_parser("rewrap", help="re-encrypt every private key under the current CIVITAS_MASTER_KEY")
        sub.add_parser("generate-master-key", help="print a new random master key (base64)")

    def handle(self, *args, action, **options):
        if action == "generate-master-key":
            self.stdout.write(keymaterial.generate_master_key())
        elif action == "list":
            for key in SigningKey.objects.order_by("owner_type", "owner_id", "-created_at"):
                self.stdout.write(
                    f"{key.key_id}  {key.owner_type}:{key.owner_id or '-'}  {key.status}  "
                    f"created {key.created_at:%Y-%m-%d %H:%M}"
                )
        elif action == "rotate":
            key = services.signing_key_create(
                owner_type=options["owner_type"], owner_id=options["owner_id"], actor="manage.py keys"
            )
            self.stdout.write(self.style.SUCCESS(f"New active key {key.key_id}"))
        elif action == "retire":
            key = SigningKey.objects.filter(key_id=options["key_id"]).first()
            if key is None:
                raise CommandError(f"No key {options['key_id']}.")
            if key.status == KeyStatus.RETIRED:
                raise CommandError(f"Key {key.key_id} is already retired.")
            services.signing_key_retire(key=key, actor="manage.py keys")
            self.stdout.write(self.style.SUCCESS(f"Retired {key.key_id}"))
        elif action == "rewrap":
            count = services.signing_keys_rewrap(actor="manage.py keys")
            self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} private key(s) under the current master key."))
