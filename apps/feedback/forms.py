"""Web forms of councils: a council's mandate and rules, a vote, a recusal.

The forms check what a person can get wrong, in plain words; the services check everything
again and are the only writers.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.feedback.models import Council, Escalation, Impact, MajorityRule, VoteChoice
from apps.feedback.services import MAX_REASON
from portal.errors import ApplicationError, ValidationFailed

LINES = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "none"})


def _lines(value: str) -> list[str]:
    return list(dict.fromkeys(line.strip() for line in (value or "").splitlines() if line.strip()))


class CouncilForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        error_messages={"required": gettext_lazy("Give the council a name.")},
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What the council is for, in words a citizen understands."),
    )
    mandate_task_types = forms.CharField(
        label=gettext_lazy("Task types it reviews"),
        widget=LINES,
        error_messages={"required": gettext_lazy("Name at least one task type it reviews, or * for all.")},
        help_text=gettext_lazy("One per line, such as permits.review; a line with * alone covers every task type."),
    )
    mandate_impacts = forms.MultipleChoiceField(
        label=gettext_lazy("Impact levels it reviews"),
        choices=Impact.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose the impact levels it reviews.")},
    )
    quorum = forms.IntegerField(
        label=gettext_lazy("Quorum"),
        min_value=1,
        max_value=99,
        help_text=gettext_lazy("How many votes are needed before a verdict can be reached."),
    )
    majority = forms.ChoiceField(
        label=gettext_lazy("Majority needed"), choices=MajorityRule.choices, widget=forms.RadioSelect
    )
    deadline_hours = forms.IntegerField(
        label=gettext_lazy("Hours to decide a case"),
        min_value=1,
        max_value=24 * 90,
        help_text=gettext_lazy("From the moment the case reaches the council; at most 90 days (2160 hours)."),
    )
    escalation = forms.ChoiceField(
        label=gettext_lazy("When the deadline passes"), choices=Escalation.choices, widget=forms.RadioSelect
    )
    backup_council = forms.ModelChoiceField(
        label=gettext_lazy("Back-up council"),
        queryset=Council.all_institutions.none(),
        required=False,
        empty_label=gettext_lazy("None"),
        help_text=gettext_lazy("Where a case goes when this council misses its deadline, if you chose so above."),
    )
    strata_fields = forms.CharField(
        label=gettext_lazy("Strata of the draw by lot"),
        required=False,
        widget=LINES,
        help_text=gettext_lazy(
            "One per line, at most five, each a simple name such as district or age_band: the draw by lot "
            "gives each group its fair share of seats."
        ),
    )
    public_record = forms.BooleanField(
        label=gettext_lazy("Publish the council's verdicts, pseudonymised"),
        required=False,
        help_text=gettext_lazy("Anyone may then read the decided cases without the names of members or citizens."),
    )

    def __init__(self, *args, councils=None, **kwargs):
        super().__init__(*args, **kwargs)
        # the institution's other councils, read by the view through the selectors
        self.fields["backup_council"].queryset = councils if councils is not None else Council.all_institutions.none()

    @classmethod
    def initial_for(cls, council: Council | None) -> dict[str, Any]:
        if council is None:
            return {
                "mandate_impacts": [Impact.HIGH, Impact.CRITICAL],
                "quorum": 3,
                "majority": MajorityRule.SIMPLE,
                "deadline_hours": 72,
                "escalation": Escalation.INSTITUTION_ADMIN,
                "public_record": True,
            }
        return {
            "name": council.name,
            "description": council.description,
            "mandate_task_types": "\n".join(council.mandate_task_types),
            "mandate_impacts": list(council.mandate_impacts),
            "quorum": council.quorum,
            "majority": council.majority,
            "deadline_hours": council.deadline_hours,
            "escalation": council.escalation,
            "backup_council": council.backup_council_id,
            "strata_fields": "\n".join(council.strata_fields),
            "public_record": council.public_record,
        }

    def clean_mandate_task_types(self) -> list[str]:
        types = _lines(self.cleaned_data["mandate_task_types"])
        if not types:
            raise forms.ValidationError(_("Name at least one task type it reviews, or * for all."))
        if any(len(t) > 80 for t in types):
            raise forms.ValidationError(_("Each task type is at most 80 characters long."))
        return types

    def clean_strata_fields(self) -> list[str]:
        return _lines(self.cleaned_data["strata_fields"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("escalation") == Escalation.BACKUP_COUNCIL and not cleaned.get("backup_council"):
            self.add_error("backup_council", _("Name the back-up council cases escalate to."))
        return cleaned

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of council_create and council_update."""
        return {name: self.cleaned_data.get(name) for name in self.fields}


class VoteForm(forms.Form):
    choice = forms.ChoiceField(
        label=gettext_lazy("Your vote"),
        choices=VoteChoice.choices,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Vote approve, reject or amend.")},
    )
    amended_decision = forms.ChoiceField(
        label=gettext_lazy("The decision instead (if you amend)"),
        required=False,
        help_text=gettext_lazy("Only when you vote to amend: the decision you propose in place of the agents'."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Your reason"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": gettext_lazy("Give the reason for your vote: it is part of the record.")},
        help_text=gettext_lazy("Other members read it; if the verdict is published, so does the public."),
    )

    def __init__(self, *args, item, **kwargs):
        super().__init__(*args, **kwargs)
        others = [d for d in item.allowed_decisions if d != item.proposed_decision]
        self.fields["amended_decision"].choices = [("", _("Choose a decision")), *[(d, d) for d in others]]
        self.item = item

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("choice") == VoteChoice.AMEND and not cleaned.get("amended_decision"):
            self.add_error("amended_decision", _("Choose the decision you propose instead."))
        return cleaned


class RecuseForm(forms.Form):
    conflict = forms.CharField(
        label=gettext_lazy("Your conflict of interest"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": gettext_lazy("Say what the conflict of interest is.")},
        help_text=gettext_lazy("For example: the applicant is a relative. You then take no part in this case."),
    )


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal on the form, field by field where the form has the field."""
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if not field_errors:
        form.add_error(None, error.message)
        return
    for key, messages_ in field_errors.items():
        for message in messages_:
            form.add_error(key if key in form.fields else None, str(message))
