"""Web forms of agent clusters: the cluster's configuration, and a task put to it.

The forms check what a person can get wrong, in words a civil servant understands; the
services check everything again (and are the only writers).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.agents.clusters import flagging
from apps.agents.clusters.services import MAX_AGENTS_PER_STAGE, MAX_STAGES
from apps.agents.models import Agent, Cluster
from apps.agents.services import TASK_TYPE
from portal.errors import ApplicationError, ValidationFailed

STAGE_ROWS = 8
MAX_DECISIONS = 20
JSON_WIDGET = forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"})

# A service's ValidationFailed names its own fields; where the form has a field of its own
# for one, the message goes there.
SERVICE_FIELDS = {
    "name": "name",
    "task_type": "task_type",
    "capabilities": "task_type",  # the service checks the task type as a capability
    "allowed_decisions": "allowed_decisions",
    "record": "record",
    "documents": "documents",
}


def _percent(fraction: float) -> Decimal:
    return Decimal(str(round(fraction * 100, 2))).normalize()


def _number(value: float) -> int | float:
    """A threshold as JSON shows it: 10000, not 10000.0."""
    return int(value) if float(value).is_integer() else float(value)


class ClusterForm(forms.Form):
    """Name, task type, allowed decisions, a fixed number of stage rows, the flagging policy.

    Works without JavaScript: blank stage rows are ignored, the others keep their order."""

    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        error_messages={"required": gettext_lazy("Give the cluster a name.")},
    )
    task_type = forms.CharField(
        label=gettext_lazy("Task type"),
        max_length=80,
        error_messages={"required": gettext_lazy("Give the task type, such as permits.review.")},
        help_text=gettext_lazy(
            "The kind of task this cluster decides, such as permits.review. Agents take part only when "
            "this task type is among their capabilities."
        ),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocapitalize": "none", "list": "task-types"}),
    )
    allowed_decisions = forms.CharField(
        label=gettext_lazy("Allowed decisions"),
        error_messages={"required": gettext_lazy("List at least one decision, such as approve.")},
        help_text=gettext_lazy(
            "One per line, such as approve and deny. An agent that proposes anything else is refused."
        ),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    min_confidence = forms.DecimalField(
        label=gettext_lazy("Lowest confidence that stands (%)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text=gettext_lazy("When the agents' combined confidence is below this, the council reviews the case."),
    )
    max_disagreement = forms.DecimalField(
        label=gettext_lazy("Highest disagreement that stands (%)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text=gettext_lazy(
            "The share of the weighted vote against the decision. Above this, the council reviews the case."
        ),
    )
    flag_on_rejected = forms.BooleanField(
        label=gettext_lazy("Send to the council when the validator rejects a proposal"), required=False
    )
    flag_on_out_of_scope = forms.BooleanField(
        label=gettext_lazy("Send to the council when an agent is refused as out of scope"), required=False
    )
    audit_sample_rate = forms.DecimalField(
        label=gettext_lazy("Share of standing decisions audited by the council (%)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        required=False,
        help_text=gettext_lazy(
            "Decisions that are not flagged are drawn at this rate and sent to the council anyway, so that the "
            "error rate of the decisions that stand is measured."
        ),
    )
    high_impact_field = forms.CharField(
        label=gettext_lazy("High-impact field"),
        max_length=200,
        required=False,
        help_text=gettext_lazy(
            "A number in the record, such as amount or crowd_size (organiser.age for a nested one)."
        ),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocapitalize": "none"}),
    )
    high_impact_threshold = forms.DecimalField(
        label=gettext_lazy("High-impact threshold"),
        required=False,
        help_text=gettext_lazy("At or above this value, the council always reviews the case."),
    )

    GENERAL = ("name", "task_type", "allowed_decisions")
    POLICY = (
        "min_confidence",
        "max_disagreement",
        "flag_on_rejected",
        "flag_on_out_of_scope",
        "audit_sample_rate",
        "watch_agents",
    )
    HIGH_IMPACT = ("high_impact_field", "high_impact_threshold")

    def __init__(self, *args, agents: list[Agent], rows: int = STAGE_ROWS, **kwargs):
        super().__init__(*args, **kwargs)
        self.agents = agents
        self.rows = max(1, min(rows, MAX_STAGES))
        choices = [
            (str(agent.uid), _("%(name)s (%(status)s)") % {"name": agent.name, "status": agent.get_status_display()})
            for agent in agents
        ]
        self.fields["watch_agents"] = forms.MultipleChoiceField(
            label=_("Agents on the watch list"),
            help_text=_(
                "Every run these agents take part in goes to the council. Agents that councils often contradict "
                "are added here automatically; only an administrator takes them off."
            ),
            choices=choices,
            required=False,
            widget=forms.CheckboxSelectMultiple,
        )
        for number in range(1, self.rows + 1):
            self.fields[f"stage_{number}_name"] = forms.CharField(
                label=_("Name of stage %(n)s") % {"n": number}, max_length=80, required=False
            )
            self.fields[f"stage_{number}_agents"] = forms.MultipleChoiceField(
                label=_("Agents of stage %(n)s") % {"n": number},
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                error_messages={"invalid_choice": _("One of the chosen agents is not an agent of this institution.")},
            )

    @classmethod
    def initial_for(cls, cluster: Cluster | None) -> dict[str, Any]:
        policy = {**flagging.DEFAULT_POLICY, **(cluster.flagging_policy if cluster else {})}
        initial: dict[str, Any] = {
            "min_confidence": _percent(policy["min_confidence"]),
            "max_disagreement": _percent(policy["max_disagreement"]),
            "flag_on_rejected": policy["flag_on_rejected"],
            "flag_on_out_of_scope": policy["flag_on_out_of_scope"],
            "audit_sample_rate": _percent(policy["audit_sample_rate"]),
            "watch_agents": list(policy["watch_agents"]),
        }
        if policy["high_impact"]:
            initial["high_impact_field"] = policy["high_impact"]["field"]
            initial["high_impact_threshold"] = policy["high_impact"]["threshold"]
        if cluster is None:
            return initial
        initial.update(
            name=cluster.name, task_type=cluster.task_type, allowed_decisions="\n".join(cluster.allowed_decisions)
        )
        for number, stage in enumerate(cluster.stages, start=1):
            initial[f"stage_{number}_name"] = stage.get("name", "")
            initial[f"stage_{number}_agents"] = list(stage.get("agents", []))
        return initial

    @staticmethod
    def rows_for(cluster: Cluster | None) -> int:
        """Eight rows, or as many as the cluster has stages (the API allows more), at most MAX_STAGES."""
        return min(MAX_STAGES, max(STAGE_ROWS, len(cluster.stages) if cluster else 0))

    # what the template shows, in order ------------------------------------------------

    def general_fields(self):
        return [self[name] for name in self.GENERAL]

    def policy_fields(self):
        return [self[name] for name in self.POLICY]

    def high_impact_fields(self):
        return [self[name] for name in self.HIGH_IMPACT]

    def stage_rows(self):
        return [
            {"number": n, "name": self[f"stage_{n}_name"], "agents": self[f"stage_{n}_agents"]}
            for n in range(1, self.rows + 1)
        ]

    # checks ------------------------------------------------------------------------------

    def clean_task_type(self) -> str:
        value = self.cleaned_data["task_type"].strip()
        if not TASK_TYPE.match(value):
            raise forms.ValidationError(
                _("A task type is lower-case words joined by dots, such as permits.review."), code="task_type"
            )
        return value

    def clean_allowed_decisions(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["allowed_decisions"].splitlines()]
        decisions = list(dict.fromkeys(line for line in lines if line))
        if not decisions:
            raise forms.ValidationError(_("List at least one decision, such as approve."))
        if len(decisions) > MAX_DECISIONS:
            raise forms.ValidationError(_("List at most %(n)s decisions.") % {"n": MAX_DECISIONS})
        if any(len(decision) > 100 for decision in decisions):
            raise forms.ValidationError(_("Each decision is at most 100 characters long."))
        return decisions

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        stages = []
        for n in range(1, self.rows + 1):
            name = (cleaned.get(f"stage_{n}_name") or "").strip()
            agents = cleaned.get(f"stage_{n}_agents") or []
            if f"stage_{n}_name" in self.errors or f"stage_{n}_agents" in self.errors:
                continue
            if not name and not agents:
                continue  # a blank row
            if not name:
                self.add_error(f"stage_{n}_name", _("Give stage %(n)s a name, or untick its agents.") % {"n": n})
            elif not agents:
                self.add_error(
                    f"stage_{n}_agents", _("Choose at least one agent for stage %(n)s, or clear its name.") % {"n": n}
                )
            elif len(agents) > MAX_AGENTS_PER_STAGE:
                self.add_error(
                    f"stage_{n}_agents",
                    _("A stage has at most %(max)s agents.") % {"max": MAX_AGENTS_PER_STAGE},
                )
            else:
                stages.append({"name": name, "agents": list(agents)})
        if not stages and not any(name.startswith("stage_") for name in self.errors):
            self.add_error(
                "stage_1_name", _("Add at least one stage: give it a name and choose the agents that work in it.")
            )
        cleaned["stages"] = stages
        field, threshold = (cleaned.get("high_impact_field") or "").strip(), cleaned.get("high_impact_threshold")
        if field and threshold is None and "high_impact_threshold" not in self.errors:
            self.add_error("high_impact_threshold", _("Give the threshold for the high-impact field."))
        elif threshold is not None and not field:
            self.add_error("high_impact_field", _("Name the field the threshold applies to."))
        return cleaned

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of cluster_create and cluster_update."""
        data = self.cleaned_data
        field, threshold = data.get("high_impact_field", "").strip(), data.get("high_impact_threshold")
        return {
            "name": data["name"],
            "task_type": data["task_type"],
            "stages": data["stages"],
            "allowed_decisions": data["allowed_decisions"],
            "flagging_policy": {
                "min_confidence": float(data["min_confidence"]) / 100,
                "max_disagreement": float(data["max_disagreement"]) / 100,
                "flag_on_rejected": data["flag_on_rejected"],
                "flag_on_out_of_scope": data["flag_on_out_of_scope"],
                "audit_sample_rate": float(data.get("audit_sample_rate") or 0) / 100,
                "watch_agents": list(data.get("watch_agents") or []),
                "high_impact": {"field": field, "threshold": _number(threshold)} if field else None,
            },
        }


def _json_object(value: str, *, not_object: str) -> dict:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            _(
                "This is not valid JSON (line %(line)s, column %(column)s). Check that quotes, commas and "
                "braces match, and that names are in double quotes."
            )
            % {"line": exc.lineno, "column": exc.colno},
            code="json",
        ) from None
    if not isinstance(parsed, dict):
        raise forms.ValidationError(not_object, code="not_object")
    return parsed


class RunSubmitForm(forms.Form):
    """A task put to a cluster: the case record, and the documents the case holds."""

    record = forms.CharField(
        label=gettext_lazy("Record (JSON)"),
        error_messages={"required": gettext_lazy("Give the record of the case, as a JSON object.")},
        help_text=gettext_lazy(
            'The facts of the case as a JSON object, such as {"crowd_size": 120, "fee_paid": true}. '
            "Agents cite its fields by name."
        ),
        widget=JSON_WIDGET,
    )
    documents = forms.CharField(
        label=gettext_lazy("Documents (JSON, optional)"),
        required=False,
        help_text=gettext_lazy('The documents of the case and the versions held, such as {"site-plan": ["1", "2"]}.'),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
    )
    concerns = forms.CharField(
        label=gettext_lazy("User name of the person concerned (optional)"),
        required=False,
        max_length=150,
        help_text=gettext_lazy(
            "The applicant the case is about: they are told the outcome and can read the reasons and the "
            "model cards of the agents that decided."
        ),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocapitalize": "none", "autocomplete": "off"}),
    )

    def clean_record(self) -> dict:
        return _json_object(
            self.cleaned_data["record"],
            not_object=_("The record must be a JSON object: names and values in braces, such as %(example)s.")
            % {"example": '{"crowd_size": 120}'},
        )

    def clean_documents(self) -> dict:
        value = self.cleaned_data["documents"].strip()
        if not value:
            return {}
        return _json_object(
            value,
            not_object=_("The documents must be a JSON object: names and values in braces, such as %(example)s.")
            % {"example": '{"site-plan": ["1"]}'},
        )


class AppealForm(forms.Form):
    grounds = forms.CharField(
        label=gettext_lazy("Why do you think the decision is wrong?"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy("A council of officials and citizens drawn by lot reviews your appeal."),
        error_messages={"required": gettext_lazy("Say why you think the decision is wrong.")},
    )


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal on the form, field by field where the form has the field."""
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if not field_errors:
        form.add_error(None, error.message)
        return
    for key, messages_ in field_errors.items():
        field = SERVICE_FIELDS.get(key)
        if key == "stages":
            # the form checks the stages first; this is what it cannot see, such as an agent
            # moved or retired by someone else meanwhile
            form.add_error(
                None,
                _("The stages could not be saved: %(detail)s") % {"detail": " ".join(str(m) for m in messages_)},
            )
        elif key == "flagging_policy":
            form.add_error(
                None,
                _("The review rules could not be saved: %(detail)s") % {"detail": " ".join(str(m) for m in messages_)},
            )
        else:
            for message in messages_:
                form.add_error(field if field in form.fields else None, str(message))
