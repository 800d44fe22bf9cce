"""What an approved act does: one registered effect per act type.

An effect is two functions:

- `validate(payload) -> payload`: called when a proposal is created; returns the
  normalised payload that goes into the signed document, or raises `ValidationFailed`
  (or `Conflict` when the act could not take effect as things stand).
- `apply(*, proposal, actor) -> dict`: called once, inside the transaction that records
  the k-th valid signature, after the proposal became approved. It makes the change
  through the owning app's services (which audit it) and returns a small JSON summary,
  kept on the proposal and in the audit event. Raising an `ApplicationError` rolls the
  whole signature back, so an act never half-happens.

Other apps register theirs in their `AppConfig.ready()`:

    from apps.trust.effects import ActEffect, register_effect
    register_effect(ActEffect(act_type=ActType.CERTIFY_AGENT, validate=..., apply=..., form_class=...))

An act type with no registered effect cannot be proposed: an approval that nothing
acts on would read as done when it is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.tenancy.models import Institution, InstitutionKind
from apps.trust.models import ActType
from portal.errors import Conflict, ValidationFailed


@dataclass(frozen=True)
class ActEffect:
    act_type: str
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    apply: Callable[..., dict[str, Any]]
    # The web form that collects the payload; its cleaned_data is the payload.
    form_class: type[forms.Form] | None = None


_REGISTRY: dict[str, ActEffect] = {}


def register_effect(effect: ActEffect) -> None:
    """Raises: ValueError for an unknown act type or a second effect for the same type."""
    if effect.act_type not in ActType.values:
        raise ValueError(f"Unknown act type {effect.act_type!r}; add it to apps.trust.models.ActType.")
    existing = _REGISTRY.get(effect.act_type)
    if existing is not None and existing != effect:
        raise ValueError(f"An effect for {effect.act_type!r} is already registered.")
    _REGISTRY[effect.act_type] = effect


def effect_for(act_type: str) -> ActEffect | None:
    return _REGISTRY.get(act_type)


def registered_act_types() -> list[str]:
    return [act for act in ActType.values if act in _REGISTRY]


# --- admit an institution -------------------------------------------------------------


class AdmitInstitutionForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name of the institution"), max_length=200)
    slug = forms.SlugField(
        label=gettext_lazy("Short name"),
        max_length=60,
        help_text=gettext_lazy("Letters, digits and dashes; it becomes part of the institution's addresses."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=InstitutionKind.choices)


def _admit_validate(payload: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationFailed(errors={"payload": [_("The payload must be an object.")]})
    unknown = set(payload) - {"name", "slug", "kind"}
    name = str(payload.get("name") or "").strip()
    slug = slugify(str(payload.get("slug") or ""))[:60]
    kind = payload.get("kind")
    errors: dict[str, list[str]] = {}
    if unknown:
        errors["payload"] = [_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}]
    if not name or len(name) > 200:
        errors["name"] = [_("An institution needs a name of at most 200 characters.")]
    if not slug or slug != payload.get("slug"):
        errors["slug"] = [_("A short name is made of lower-case letters, digits and dashes.")]
    if kind not in InstitutionKind.values:
        errors["kind"] = [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(InstitutionKind.values)}]
    if errors:
        raise ValidationFailed(errors=errors)
    if Institution.objects.filter(slug=slug).exists():
        raise Conflict(_("An institution with the short name “%(slug)s” already exists.") % {"slug": slug})
    return {"name": name, "slug": slug, "kind": kind}


def _admit_apply(*, proposal, actor) -> dict[str, Any]:
    from apps.tenancy.services import institution_create

    payload = proposal.payload
    institution = institution_create(name=payload["name"], slug=payload["slug"], kind=payload["kind"], actor=actor)
    return {"institution_id": institution.pk, "slug": institution.slug, "did": institution.did}


register_effect(
    ActEffect(
        act_type=ActType.ADMIT_INSTITUTION,
        validate=_admit_validate,
        apply=_admit_apply,
        form_class=AdmitInstitutionForm,
    )
)
