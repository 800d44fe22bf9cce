"""The small schema of a permit type's application fields: checking it, and checking answers against it.

A schema is a list of {"name", "label", "type", "required", "choices"}; `type` is one of
text, number, boolean, date, choice. The same schema builds the web form and validates the API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from portal.errors import ValidationFailed

FIELD_TYPES = ("text", "number", "boolean", "date", "choice")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
RESERVED_NAMES = frozenset({"permit"})  # the record's metadata key
MAX_FIELDS = 50
MAX_CHOICES = 50
TEXT_MAX_CHARS = 2000
MAX_ATTACHMENTS = 10
ATTACHMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def clean_fields(value: Any) -> list[dict]:
    """A permit type's field schema, normalised.

    Raises: ValidationFailed (key `fields`)."""
    if not isinstance(value, list) or len(value) > MAX_FIELDS:
        raise ValidationFailed(
            errors={"fields": [_("Give the fields as a list of at most %(n)s.") % {"n": MAX_FIELDS}]}
        )
    cleaned, seen, problems = [], set(), []
    for index, field in enumerate(value, start=1):
        if not isinstance(field, dict):
            problems.append(_("Field %(i)s is not an object.") % {"i": index})
            continue
        name = str(field.get("name", "")).strip()
        kind = field.get("type", "text")
        label = str(field.get("label") or name).strip()[:200]
        choices = field.get("choices") or []
        if not FIELD_NAME.match(name) or name in RESERVED_NAMES:
            problems.append(
                _("Field %(i)s: the name must be lower-case letters, digits or _, starting with a letter.")
                % {"i": index}
            )
        elif name in seen:
            problems.append(_("Field %(i)s: the name %(name)s is used twice.") % {"i": index, "name": name})
        if kind not in FIELD_TYPES:
            problems.append(
                _("Field %(i)s: the type must be one of %(types)s.") % {"i": index, "types": ", ".join(FIELD_TYPES)}
            )
        if kind == "choice" and (
            not isinstance(choices, list)
            or not choices
            or len(choices) > MAX_CHOICES
            or not all(isinstance(c, str) and c.strip() for c in choices)
        ):
            problems.append(_("Field %(i)s: a choice field needs a list of choices (text).") % {"i": index})
        seen.add(name)
        cleaned.append(
            {
                "name": name,
                "label": label,
                "type": kind,
                "required": bool(field.get("required", False)),
                "choices": [c.strip() for c in choices] if kind == "choice" and isinstance(choices, list) else [],
            }
        )
    if problems:
        raise ValidationFailed(errors={"fields": problems})
    return cleaned


def clean_attachment_names(value: Any) -> list[str]:
    """Raises: ValidationFailed (key `attachments`)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if (
        not isinstance(value, list)
        or len(value) > MAX_ATTACHMENTS
        or not all(isinstance(n, str) and ATTACHMENT_NAME.match(n) for n in value)
        or len(set(value)) != len(value)
    ):
        raise ValidationFailed(
            errors={
                "attachments": [
                    _("List at most %(n)s different attachment names: lower-case letters, digits or _.")
                    % {"n": MAX_ATTACHMENTS}
                ]
            }
        )
    return list(value)


MAX_CONDITIONS = 30
CONDITION_MAX_CHARS = 300


def clean_conditions(value: Any) -> list[str]:
    """The permit's conditions an inspector checks: one sentence each (a list, or text one per line).

    Raises: ValidationFailed (key `conditions`)."""
    if isinstance(value, str):
        value = [line.strip() for line in value.splitlines() if line.strip()]
    if (
        not isinstance(value, list)
        or len(value) > MAX_CONDITIONS
        or not all(isinstance(c, str) and c.strip() and len(c) <= CONDITION_MAX_CHARS for c in value)
        or len({c.strip() for c in value}) != len(value)
    ):
        raise ValidationFailed(
            errors={
                "conditions": [
                    _("List at most %(n)s different conditions, one per line, each under %(chars)s characters.")
                    % {"n": MAX_CONDITIONS, "chars": CONDITION_MAX_CHARS}
                ]
            }
        )
    return [c.strip() for c in value]


def _clean_value(field: dict, raw: Any) -> Any:
    """Raises: ValueError with the message for people."""
    kind = field["type"]
    if kind == "text":
        if not isinstance(raw, str):
            raise ValueError(_("Enter text."))
        if len(raw) > TEXT_MAX_CHARS:
            raise ValueError(_("Keep this under %(n)s characters.") % {"n": TEXT_MAX_CHARS})
        return raw.strip()
    if kind == "number":
        if isinstance(raw, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 12:
            raise ValueError(_("Enter a number."))
        # JSON-safe: whole numbers stay integers, others become text-exact floats are avoided
        return int(number) if number == number.to_integral_value() else str(number)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {"true", "on", "yes", "1"}:
            return True
        if isinstance(raw, str) and raw.lower() in {"false", "off", "no", "0", ""}:
            return False
        raise ValueError(_("Answer yes or no."))
    if kind == "date":
        if isinstance(raw, dt.date):
            return raw.isoformat()
        try:
            return dt.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    if kind == "choice":
        if raw not in field["choices"]:
            raise ValueError(_("Choose one of the options."))
        return raw
    raise ValueError(_("Unknown field type."))


def answers_for_agents(*, fields: list[dict], answers: dict) -> dict:
    """The answers as the agents read them: a number with decimals, stored as exact text, is a number
    again (a rule compares it, a model scales it)."""
    numbers = {f["name"] for f in fields if f["type"] == "number"}
    return {key: _as_number(value) if key in numbers else value for key, value in answers.items()}


def answers_for_people(*, fields: list[dict], answers: dict) -> list[dict]:
    """The answers as the pages show them: each field's label in the type's order, yes or no, a date
    (the template formats it for the reader's language); answers to fields the type no longer has come
    last, under their name."""
    shown = []
    for field in fields:
        if field["name"] not in answers:
            continue
        value = answers[field["name"]]
        if field["type"] == "boolean" and isinstance(value, bool):
            value = _("Yes") if value else _("No")
        elif field["type"] == "date" and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = dt.date.fromisoformat(value)
        shown.append({"label": field["label"], "value": value})
    known = {f["name"] for f in fields}
    shown.extend({"label": key, "value": value} for key, value in answers.items() if key not in known)
    return shown


def _as_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:  # the type's fields may have changed since the answer was given: then it stays as it was
        number = Decimal(value)
    except InvalidOperation:
        return value
    return float(number) if number.is_finite() else value


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def clean_answers(*, fields: list[dict], answers: Any) -> dict:
    """An application's answers checked against its type's schema; unknown keys are refused.

    Raises: ValidationFailed (errors by field name)."""
    if not isinstance(answers, dict):
        raise ValidationFailed(errors={"data": [_("The answers must be an object.")]})
    errors: dict[str, list[str]] = {}
    known = {f["name"] for f in fields}
    for key in answers:
        if key not in known:
            errors[str(key)[:60]] = [_("This permit type has no such field.")]
    cleaned: dict[str, Any] = {}
    for field in fields:
        raw = answers.get(field["name"])
        if _empty(raw) and field["type"] != "boolean":
            if field["required"]:
                errors[field["name"]] = [_("This field is required.")]
            continue
        if field["type"] == "boolean" and raw is None:
            if field["required"]:
                errors[field["name"]] = [_("This field is required.")]
            continue
        try:
            cleaned[field["name"]] = _clean_value(field, raw)
        except ValueError as error:
            errors[field["name"]] = [str(error)]
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned
