"""Web forms of council membership. The forms check what a person can get wrong; the
services check everything again and are the only writers."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.feedback.membership.services import MAX_SEATS, MAX_STRATUM_VALUE
from portal.errors import ApplicationError, ValidationFailed

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


SERVICE_FIELDS = {"user": "username"}  # the service's name of a field -> the form's


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal on the form, field by field where the form has the field."""
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if not field_errors:
        form.add_error(None, error.message)
        return
    for key, messages_ in field_errors.items():
        field = SERVICE_FIELDS.get(key, key)
        for message in messages_:
            form.add_error(field if field in form.fields else None, str(message))


class TermForm(forms.Form):
    term_start = forms.DateField(label=gettext_lazy("Term starts"), widget=DATE_WIDGET)
    term_end = forms.DateField(label=gettext_lazy("Term ends"), widget=DATE_WIDGET)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("term_start"), cleaned.get("term_end")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            self.add_error("term_end", _("The term must end on or after the day it starts."))
        return cleaned


class OfficialForm(TermForm):
    username = forms.CharField(
        label=gettext_lazy("Username"),
        max_length=150,
        help_text=gettext_lazy("A member of this institution; they get the council-member role if they lack it."),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"}),
    )
    field_order = ["username", "term_start", "term_end"]


class DrawForm(TermForm):
    seats = forms.IntegerField(label=gettext_lazy("Seats to draw"), min_value=1, max_value=MAX_SEATS)
    seed = forms.CharField(
        label=gettext_lazy("Seed (optional)"),
        required=False,
        max_length=128,
        help_text=gettext_lazy(
            "Leave empty for a random seed chosen now, or give one announced in advance, such as a published "
            "lottery number. It is recorded so that anyone can re-run the draw."
        ),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"}),
    )
    field_order = ["seats", "term_start", "term_end", "seed"]


class EndSeatForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": gettext_lazy("Say why the seat ends.")},
    )


class VolunteerForm(forms.Form):
    """One text field per stratum of the council (district, age band, ...)."""

    def __init__(self, *args, strata_fields: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        for field in strata_fields:
            self.fields[field] = forms.CharField(
                label=field.replace("_", " ").capitalize(),
                max_length=MAX_STRATUM_VALUE,
                error_messages={"required": _("Give your %(field)s.") % {"field": field.replace("_", " ")}},
            )


class ShareCouncilForm(forms.Form):
    """The payload form of the "share_council" act, also offered on the trust pages."""

    council = forms.IntegerField(
        label=gettext_lazy("Council number"),
        min_value=1,
        help_text=gettext_lazy("The number in the council's address; the council must be this institution's."),
    )
    shared_with = forms.SlugField(
        label=gettext_lazy("Institution to share it with"),
        max_length=60,
        help_text=gettext_lazy("Its short name, such as borealis. It must sign the proposal itself."),
    )


class ShareEndForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": gettext_lazy("Say why the sharing ends.")},
    )
