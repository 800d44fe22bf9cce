"""Print the current TOTP code of a demo persona, for signing in without an authenticator app.

Only the personas of `seed_demo` qualify, and only while their TOTP secret is still the
public demo secret: a real person's second factor is never shown.
"""

from __future__ import annotations

import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.core.management.base import BaseCommand, CommandError

from apps.identity.models import User
from apps.tenancy.management.commands.seed_demo import demo_totp_secret, is_demo_username


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo persona (see seed_demo)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        if not is_demo_username(username):
            raise CommandError(f"'{username}' is not a demo persona; demo_totp only shows the demo's public codes.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account '{username}': run `python manage.py seed_demo` first.")
        authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if authenticator is None:
            raise CommandError(f"'{username}' has no authenticator: this persona signs in with the password alone.")
        secret = decrypt(authenticator.data["secret"])
        if secret != demo_totp_secret(username):
            raise CommandError(f"'{username}' has enrolled their own authenticator; its codes are not shown.")
        period = mfa_settings.TOTP_PERIOD
        now = int(time.time())
        code = format_hotp_value(hotp_value(secret, now // period))
        self.stdout.write(code)
        self.stderr.write(f"valid for about {period - now % period} more second(s)")
