"""Set and list threshold policies: `trust_policy list`, `trust_policy create`.

    manage.py trust_policy create --name "Admission" --act-type admit_institution --k 2 \
        --authority ministry-interior --authority audit-office --authority aurelia
"""

from django.core.management.base import BaseCommand, CommandError

from apps.tenancy.models import Institution
from apps.trust import selectors, services
from apps.trust.models import ActType
from portal.errors import ApplicationError


class Command(BaseCommand):
    help = "List threshold policies, or create the policy of an act type (k of the named authorities)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list the policies")
        create = sub.add_parser("create", help="create the policy of an act type")
        create.add_argument("--name", required=True)
        create.add_argument("--act-type", required=True, choices=ActType.values)
        create.add_argument("--k", type=int, required=True)
        create.add_argument("--authority", action="append", required=True, help="an institution's short name")

    def handle(self, *args, action, **options):
        if action == "list":
            for policy in selectors.policies_list():
                slugs = ", ".join(a.slug for a in policy.authorities.all())
                self.stdout.write(f"{policy.act_type}: {policy.name}, {policy.k} of [{slugs}]")
            return
        slugs = options["authority"]
        authorities = list(Institution.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {a.slug for a in authorities})
        if unknown:
            raise CommandError(f"No institution with the short name(s): {', '.join(unknown)}.")
        try:
            policy = services.threshold_policy_create(
                name=options["name"],
                act_type=options["act_type"],
                k=options["k"],
                authorities=authorities,
                actor="manage.py trust_policy",
            )
        except ApplicationError as exc:
            details = exc.extra.get("errors") or {}
            raise CommandError(" ".join([exc.message, *(str(m) for ms in details.values() for m in ms)])) from exc
        self.stdout.write(self.style.SUCCESS(f"Policy {policy.name}: {policy.k} of {len(authorities)}."))
