"""Web forms of permits; the application form is built from the permit type's field schema."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy

from apps.permits import services

_ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"


def application_form_class(permit_type, *, with_attachments: bool = True) -> type[forms.Form]:
    """A form with one field per schema entry (and one file input per required attachment)."""
    fields: dict[str, forms.Field] = {}
    for spec in permit_type.fields:
        label, required, kind = spec["label"] or spec["name"], spec["required"], spec["type"]
        if kind == "number":
            field = forms.DecimalField(label=label, required=required, max_digits=14, decimal_places=4)
        elif kind == "boolean":
            # a checkbox answers either way: unchecked is "no"
            field = forms.BooleanField(label=label, required=False)
        elif kind == "date":
            field = forms.DateField(label=label, required=required, widget=forms.DateInput(attrs={"type": "date"}))
        elif kind == "choice":
            field = forms.ChoiceField(
                label=label, required=required, choices=[("", "—"), *[(c, c) for c in spec["choices"]]]
            )
        else:
            field = forms.CharField(label=label, required=required, max_length=2000)
        fields[spec["name"]] = field
    if with_attachments:
        for name in permit_type.attachments:
            fields[f"attachment__{name}"] = forms.FileField(
                label=name.replace("_", " ").capitalize(),
                help_text=gettext_lazy("PDF, PNG or JPEG, at most 5 MB."),
                widget=forms.ClearableFileInput(attrs={"accept": _ACCEPT}),
            )
    return type("ApplicationForm", (forms.Form,), fields)


def split_application_form(form: forms.Form) -> tuple[dict, dict]:
    """(answers, files by attachment name) from a valid application form."""
    answers, files = {}, {}
    for key, value in form.cleaned_data.items():
        if key.startswith("attachment__"):
            if value:
                files[key.removeprefix("attachment__")] = value
        elif value is not None and value != "":
            answers[key] = str(value) if not isinstance(value, bool) else value
    return answers, files


class PermitTypeForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    slug = forms.SlugField(label=gettext_lazy("Short name (in addresses)"), max_length=60)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    field_schema = forms.CharField(
        label=gettext_lazy("Application fields (JSON)"),
        required=False,
        initial="[]",
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}),
        help_text=gettext_lazy(
            'A list of {"name", "label", "type", "required", "choices"}; type is text, number, boolean, date or choice.'
        ),
    )
    attachments = forms.CharField(
        label=gettext_lazy("Required attachments"),
        required=False,
        help_text=gettext_lazy("Names separated by commas, e.g. site_plan, insurance."),
    )
    fee_amount = forms.DecimalField(label=gettext_lazy("Fee"), max_digits=12, decimal_places=2, min_value=0, initial=0)
    fee_currency = forms.ChoiceField(
        label=gettext_lazy("Currency"), choices=[(c, c) for c in sorted(services.CURRENCY_CODES)], initial="EUR"
    )
    validity_days = forms.IntegerField(
        label=gettext_lazy("Valid for (days)"), min_value=1, max_value=36500, initial=365
    )
    cluster = forms.ModelChoiceField(
        label=gettext_lazy("Agent cluster that reviews it"), queryset=None, required=False, empty_label="—"
    )
    council = forms.ModelChoiceField(label=gettext_lazy("Council"), queryset=None, required=False, empty_label="—")
    process_key = forms.CharField(
        label=gettext_lazy("BPMN process key"),
        required=False,
        max_length=200,
        help_text=gettext_lazy(
            "The id of a BPMN process of this institution; each submitted application runs its latest version."
        ),
    )
    conditions = forms.CharField(
        label=gettext_lazy("Conditions of the permit"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("One per line; inspectors check each of them."),
    )
    inspection_cluster = forms.ModelChoiceField(
        label=gettext_lazy("Agent cluster that rates the inspection risk"),
        queryset=None,
        required=False,
        empty_label="—",
    )
    cure_days = forms.IntegerField(
        label=gettext_lazy("Days to cure a violation"), min_value=1, max_value=365, initial=14, required=False
    )
    active = forms.BooleanField(label=gettext_lazy("Open for applications"), required=False, initial=True)

    def __init__(self, *args, institution, **kwargs):
        super().__init__(*args, **kwargs)
        from apps.agents.models import Cluster
        from apps.feedback.models import Council

        self.fields["cluster"].queryset = Cluster.all_institutions.filter(institution=institution)  # tenancy: own
        self.fields["inspection_cluster"].queryset = self.fields["cluster"].queryset
        self.fields["council"].queryset = Council.all_institutions.filter(institution=institution)  # tenancy: own

    def clean_field_schema(self):
        try:
            return json.loads(self.cleaned_data["field_schema"] or "[]")
        except ValueError:
            raise forms.ValidationError(gettext_lazy("Write the fields as JSON.")) from None


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=services.REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The applicant reads this."),
    )


class QuestionForm(forms.Form):
    question = forms.CharField(
        label=gettext_lazy("What do you need to know?"),
        max_length=services.REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=gettext_lazy("Your answer"),
        max_length=services.REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AppealForm(forms.Form):
    grounds = forms.CharField(
        label=gettext_lazy("Why the refusal is wrong"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("A citizens' council reads your grounds and decides. You can appeal once."),
    )
