"""Forms of the BPM pages; the services do the real checking."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.bpm.parsing import MAX_FILE_BYTES


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("BPMN 2.0 file"),
        help_text=_("A BPMN XML file from any modeler, at most 1 MB; a known process id makes it the next version."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 1 MB."))
        return upload


class StartForm(forms.Form):
    data = forms.CharField(
        label=_("Process data (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_('An object, for example {"crowd": 600}. Leave empty to start without data.'),
    )

    def clean_data(self):
        text = self.cleaned_data["data"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError(_("This is not valid JSON.")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Give an object, between { and }."))
        return value


class TaskForm(forms.Form):
    """The fields a user task's form definition lists (apps/bpm/parsing.py)."""

    def __init__(self, *args, fields: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        for field in fields:
            label = field.get("label") or field["name"]
            required = bool(field.get("required"))
            kind = field["type"]
            if kind == "boolean":
                self.fields[field["name"]] = forms.BooleanField(label=label, required=required)
            elif kind == "integer":
                self.fields[field["name"]] = forms.IntegerField(label=label, required=required)
            elif kind == "number":
                self.fields[field["name"]] = forms.DecimalField(label=label, required=required)
            elif kind == "date":
                self.fields[field["name"]] = forms.DateField(
                    label=label, required=required, widget=forms.DateInput(attrs={"type": "date"})
                )
            elif kind == "enum":
                self.fields[field["name"]] = forms.ChoiceField(
                    label=label, required=required, choices=[("", "—"), *[(o, o) for o in field.get("options", [])]]
                )
            elif kind == "text":
                self.fields[field["name"]] = forms.CharField(
                    label=label, required=required, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
                )
            else:
                self.fields[field["name"]] = forms.CharField(label=label, required=required, max_length=5000)

    def values(self) -> dict:
        """The cleaned values as the service takes them (text for numbers and dates)."""
        out = {}
        for name, value in self.cleaned_data.items():
            if value is None or value == "":
                continue
            out[name] = value if isinstance(value, (bool, int, str)) else str(value)
        return out


class ReassignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Give the task to"))

    def __init__(self, *args, people: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [(p.username, p.get_full_name() or p.username) for p in people]
