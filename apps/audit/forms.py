"""The auditor's filter form for the event list."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DateInput(forms.DateInput):
    input_type = "date"


class AuditEventFilterForm(forms.Form):
    action = forms.CharField(
        label=_("Action starts with"),
        required=False,
        max_length=100,
        help_text=_("For example “tenancy.” or “permits.approve”."),
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150, help_text=_("Part of the name."))
    target_type = forms.ChoiceField(label=_("Object type"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=DateInput)
    until = forms.DateField(label=_("To"), required=False, widget=DateInput)

    def __init__(self, *args: Any, target_types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_type"].choices = [("", _("Any")), *((t, t) for t in target_types)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end of the period must not be before its start."))
        return cleaned

    def selector_filters(self) -> dict[str, Any]:
        """The filters for `audit_events_for_institution`: whole days in the current time zone."""
        data = self.cleaned_data
        filters: dict[str, Any] = {k: data[k] for k in ("action", "actor", "target_type") if data.get(k)}
        zone = timezone.get_current_timezone()
        if data.get("since"):
            filters["since"] = timezone.make_aware(datetime.combine(data["since"], time.min), zone)
        if data.get("until"):
            filters["until"] = timezone.make_aware(datetime.combine(data["until"], time.max), zone)
        return filters
