"""Load the demo federation: five institutions and a persona for every role.

Idempotent: what exists is left alone, so a second run changes no row and appends no
audit event. Every institution and membership goes through the tenancy services, so the
demo's history is in the transparency log like any other; the command ends by sequencing
the log and signing its tree head.

Other apps add their demo data (agents, councils, processes, applications, a budget
cycle) without touching this file: an app with a module `demo.py` that defines
`seed_demo(*, federation, stdout)` is called after the people exist, in INSTALLED_APPS
order, and must be idempotent too. `federation` is a `DemoFederation`.

The password and the TOTP secrets below are public. They protect nothing, which is why
the command refuses to run in production unless told `--allow-production`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_append, audit_tree_head_sign
from apps.identity.models import User
from apps.tenancy.models import Institution, InstitutionKind, Membership, Role
from apps.tenancy.services import institution_create, membership_grant

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (public on purpose: demo data only)
DEMO_EMAIL_DOMAIN = "demo.civitas.example"
SEED_ACTOR = "seed_demo"

INSTITUTIONS = [
    # slug, name, kind
    ("ministry-interior", "Ministry of the Interior", InstitutionKind.MINISTRY),
    ("aurelia", "City of Aurelia", InstitutionKind.MUNICIPALITY),
    ("borealis", "City of Borealis", InstitutionKind.MUNICIPALITY),
    ("nordwind", "Nordwind Energy", InstitutionKind.ENTERPRISE),
    ("audit-office", "National Audit Office", InstitutionKind.AUDIT_OFFICE),
]

ALL_SLUGS = [slug for slug, _name, _kind in INSTITUTIONS]


@dataclass(frozen=True)
class Persona:
    username: str
    first_name: str
    last_name: str
    memberships: tuple[tuple[str, str], ...]  # (institution slug, role)
    staff: bool = False  # a node operator: Django admin at /admin/

    @property
    def roles(self) -> set[str]:
        return {role for _slug, role in self.memberships}

    @property
    def needs_mfa(self) -> bool:
        return self.staff or bool(self.roles & set(settings.CIVITAS_MFA_REQUIRED_ROLES))


PERSONAS = [
    Persona("clara", "Clara", "Citizen", (("aurelia", Role.CITIZEN),)),
    Persona("cyril", "Cyril", "Citizen", (("borealis", Role.CITIZEN),)),
    Persona("sam", "Sam", "Servant", (("aurelia", Role.CIVIL_SERVANT),)),
    Persona("sofia", "Sofia", "Servant", (("borealis", Role.CIVIL_SERVANT),)),
    Persona("mina", "Mina", "Servant", (("ministry-interior", Role.CIVIL_SERVANT),)),
    Persona("carmen", "Carmen", "Council", (("aurelia", Role.COUNCIL_MEMBER),)),
    Persona("conrad", "Conrad", "Council", (("borealis", Role.COUNCIL_MEMBER),)),
    Persona("adrian", "Adrian", "Admin", (("aurelia", Role.INSTITUTION_ADMIN),)),
    Persona("beatrice", "Beatrice", "Admin", (("borealis", Role.INSTITUTION_ADMIN),)),
    Persona("ines", "Ines", "Admin", (("ministry-interior", Role.INSTITUTION_ADMIN),)),
    Persona("nils", "Nils", "Admin", (("nordwind", Role.INSTITUTION_ADMIN),)),
    Persona("otto", "Otto", "Admin", (("audit-office", Role.INSTITUTION_ADMIN),)),
    # The National Audit Office audits every institution on the node.
    Persona("audra", "Audra", "Auditor", tuple((slug, Role.AUDITOR) for slug in ALL_SLUGS)),
    Persona("ivan", "Ivan", "Integrator", (("nordwind", Role.INTEGRATOR), ("aurelia", Role.INTEGRATOR))),
    # Aurelia's citizens who volunteer for the Events council (apps/feedback/demo.py); the draw
    # by lot with the demo's announced seed seats jonas, emil and gustav, so they are council
    # members (and need TOTP) from the start.
    Persona("dora", "Dora", "Volunteer", (("aurelia", Role.CITIZEN),)),
    Persona("jonas", "Jonas", "Drawn", (("aurelia", Role.CITIZEN), ("aurelia", Role.COUNCIL_MEMBER))),
    Persona("emil", "Emil", "Drawn", (("aurelia", Role.CITIZEN), ("aurelia", Role.COUNCIL_MEMBER))),
    Persona("fatima", "Fatima", "Volunteer", (("aurelia", Role.CITIZEN),)),
    Persona("gustav", "Gustav", "Drawn", (("aurelia", Role.CITIZEN), ("aurelia", Role.COUNCIL_MEMBER))),
    Persona("hana", "Hana", "Volunteer", (("aurelia", Role.CITIZEN),)),
    Persona("operator", "Node", "Operator", (), staff=True),
]


def demo_totp_secret(username: str) -> str:
    """A fixed base32 secret per persona, so the table and an authenticator app stay valid
    across re-seeding."""
    digest = hashlib.sha256(f"civitas-demo-totp:{username}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def is_demo_username(username: str) -> bool:
    return any(p.username == username for p in PERSONAS)


@dataclass
class DemoFederation:
    """What the demo has made so far; handed to each app's `demo.seed_demo`."""

    institutions: dict[str, Institution] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    personas: list[Persona] = field(default_factory=lambda: list(PERSONAS))


class Command(BaseCommand):
    help = "Load the demo federation (five institutions, a persona for every role). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DJANGO_DEBUG=false. The demo password and TOTP secrets are public.",
        )
        parser.add_argument("--quiet-table", action="store_true", help="Do not print the persona table.")

    def handle(self, *args, allow_production: bool = False, quiet_table: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "seed_demo creates accounts whose password and TOTP secrets are public. It runs only with "
                "DJANGO_DEBUG=true, unless you pass --allow-production on a node that is a demo."
            )
        events_before = AuditEvent.objects.count()
        federation = DemoFederation()
        for slug, name, kind in INSTITUTIONS:
            federation.institutions[slug] = self._institution(slug=slug, name=name, kind=kind)
        for persona in PERSONAS:
            federation.users[persona.username] = self._person(persona, federation)
        self._app_demos(federation)
        # Sequence whatever is pending and sign the head (only if the log moved), so the
        # auditor persona finds a verifiable log straight away, worker running or not.
        audit_tree_head_sign()
        added = AuditEvent.objects.count() - events_before
        self.stdout.write(
            f"Demo federation ready: {len(federation.institutions)} institutions, {len(PERSONAS)} personas, "
            f"{added} new audit event(s)."
        )
        if not quiet_table:
            self._print_table()

    # --- building -------------------------------------------------------------------
    def _institution(self, *, slug: str, name: str, kind: str) -> Institution:
        existing = Institution.objects.filter(slug=slug).first()
        if existing is not None:
            return existing
        return institution_create(name=name, slug=slug, kind=kind, actor=None)

    @transaction.atomic
    def _person(self, persona: Persona, federation: DemoFederation) -> User:
        user = User.objects.filter(username=persona.username).first()
        email = f"{persona.username}@{DEMO_EMAIL_DOMAIN}"
        if user is None:
            user = User(
                username=persona.username,
                email=email,
                first_name=persona.first_name,
                last_name=persona.last_name,
                is_staff=persona.staff,
                is_superuser=persona.staff,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            audit_append(
                institution=None,
                actor=SEED_ACTOR,
                action="identity.user.create",
                target=user,
                changes={"username": user.username, "email": email, "demo": True},
            )
        if not EmailAddress.objects.filter(user=user, email__iexact=user.email).exists():
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        for slug, role in persona.memberships:
            institution = federation.institutions[slug]
            if not Membership.objects.filter(user=user, institution=institution, role=role).exists():
                membership_grant(institution=institution, user=user, role=role, actor=None)
        if persona.needs_mfa and not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(user, demo_totp_secret(persona.username))
            audit_append(
                institution=None,
                actor=SEED_ACTOR,
                action="identity.mfa.add",
                target=user,
                changes={"type": Authenticator.Type.TOTP, "demo": True},
            )
        return user

    def _app_demos(self, federation: DemoFederation) -> None:
        for config in django_apps.get_app_configs():
            if not config.name.startswith("apps."):
                continue
            module_name = f"{config.name}.demo"
            if importlib.util.find_spec(module_name) is None:
                continue
            seed = getattr(importlib.import_module(module_name), "seed_demo", None)
            if seed is not None:
                self.stdout.write(f"  demo data of {config.label} …")
                seed(federation=federation, stdout=self.stdout)

    # --- the table ------------------------------------------------------------------
    def _print_table(self) -> None:
        names = dict(Institution.objects.filter(slug__in=ALL_SLUGS).values_list("slug", "name"))
        rows = []
        for persona in PERSONAS:
            if persona.staff:
                where, roles = "(whole node)", "node operator: /admin/"
            else:
                slugs = list(dict.fromkeys(slug for slug, _role in persona.memberships))
                where = "every institution" if len(slugs) == len(ALL_SLUGS) else ", ".join(names[s] for s in slugs)
                roles = ", ".join(sorted({str(role) for role in persona.roles}))
            secret = demo_totp_secret(persona.username) if persona.needs_mfa else "-"
            rows.append((persona.username, where, roles, DEMO_PASSWORD, secret))
        header = ("username", "institution", "role", "password", "MFA (TOTP) secret")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

        def line(cells) -> str:
            return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        self.stdout.write("")
        self.stdout.write("Demo personas (demo data only: these credentials are public)")
        self.stdout.write(line(header))
        self.stdout.write(line("-" * w for w in widths))
        for row in rows:
            self.stdout.write(line(row))
        self.stdout.write("")
        self.stdout.write(
            "Personas with an MFA secret sign in with a TOTP code: add the secret to an authenticator app, "
            "or run `python manage.py demo_totp <username>` for the current code."
        )
