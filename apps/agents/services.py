"""Writes of the agent registry; each validates, checks the role, changes and audits in one transaction.

Institution administrators manage their institution's agents. Certification into the
shared registry is not a service an administrator calls: it is the effect of a threshold
approval (`apps.agents.certification`), which calls `agent_certify`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.agents.models import Agent, AgentStatus, AgentVersion, AutonomyLevel, EngineName, ModelCard
from apps.audit.services import audit_append
from apps.identity.did import did_key_from_public_key
from apps.identity.models import KeyOwnerType
from apps.identity.services import signing_key_create
from apps.tenancy.models import Institution, Role
from apps.tenancy.selectors import roles_of
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

MAX_CAPABILITIES = 30
MAX_CONFIG_BYTES = 16_000
MAX_CONFIG_DEPTH = 6
MAX_REASON = 2000
# A task type: dotted lower-case words, e.g. "permits.intake" or "benefits.risk_score".
TASK_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}$")
# Keys that name a secret: their value must be the name of an environment variable.
SECRET_KEY_NAME = re.compile(r"(api[_-]?key|secret|token|password|passwd|credential|private[_-]?key)", re.I)
ENV_VAR_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")
# Values that look like a credential whatever the key is called.
SECRET_VALUE = re.compile(r"^(sk-|ghp_|gho_|xox[abpr]-|AKIA|Bearer\s)|-----BEGIN")


def _require_admin(*, actor, institution: Institution) -> None:
    if actor is None:  # the node itself (seed, commands)
        return
    if isinstance(actor, str) or Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(_("Only an institution administrator can manage agents."))


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    return actor if isinstance(actor, str) else actor.get_username()


# --- validation ------------------------------------------------------------------------


def clean_capabilities(value: Any) -> list[str]:
    """Raises: ValidationFailed."""
    if isinstance(value, str):
        value = [part.strip() for part in re.split(r"[,\n]", value) if part.strip()]
    if not isinstance(value, list) or not value:
        raise ValidationFailed(errors={"capabilities": [_("List at least one task type the agent may act on.")]})
    if len(value) > MAX_CAPABILITIES:
        raise ValidationFailed(errors={"capabilities": [_("At most %(n)s task types.") % {"n": MAX_CAPABILITIES}]})
    bad = [str(item) for item in value if not isinstance(item, str) or len(item) > 80 or not TASK_TYPE.match(item)]
    if bad:
        raise ValidationFailed(
            errors={
                "capabilities": [
                    _("Task types are lower-case words joined by dots, such as “permits.intake”; not: %(bad)s.")
                    % {"bad": ", ".join(bad[:5])}
                ]
            }
        )
    return sorted(set(value))


def _config_problems(value: Any, *, path: str, depth: int) -> list[str]:
    if depth > MAX_CONFIG_DEPTH:
        return [_("%(path)s: nested too deeply.") % {"path": path or "config"}]
    problems: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY_NAME.search(str(key)):
                if not str(key).endswith("_env"):
                    problems.append(
                        _(
                            "%(path)s: never put a secret in the configuration. Keep it in an environment "
                            "variable and name that variable under “%(key)s_env”."
                        )
                        % {"path": where, "key": key}
                    )
                elif not isinstance(item, str) or not ENV_VAR_NAME.match(item):
                    problems.append(
                        _("%(path)s: must be the name of an environment variable, such as CIVITAS_LLM_API_KEY.")
                        % {"path": where}
                    )
                continue
            problems += _config_problems(item, path=where, depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _config_problems(item, path=f"{path}[{index}]", depth=depth + 1)
    elif isinstance(value, str):
        if SECRET_VALUE.search(value):
            problems.append(
                _("%(path)s: this looks like a credential; keep it in an environment variable.") % {"path": path}
            )
    elif isinstance(value, float) and value != value:  # NaN is not JSON
        problems.append(_("%(path)s: not a number.") % {"path": path})
    elif value is not None and not isinstance(value, (bool, int, float)):
        problems.append(_("%(path)s: not a JSON value.") % {"path": path})
    return problems


def clean_config(value: Any) -> dict[str, Any]:
    """A JSON object of the engine's settings, with no secret in it.

    Raises: ValidationFailed."""
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            raise ValidationFailed(errors={"config": [_("The configuration is not valid JSON.")]}) from None
    if not isinstance(value, dict):
        raise ValidationFailed(errors={"config": [_("The configuration must be a JSON object.")]})
    problems = _config_problems(value, path="", depth=0)
    if problems:
        raise ValidationFailed(errors={"config": problems[:10]})
    if len(json.dumps(value)) > MAX_CONFIG_BYTES:
        raise ValidationFailed(
            errors={"config": [_("The configuration is larger than %(n)s bytes.") % {"n": MAX_CONFIG_BYTES}]}
        )
    return value


def _clean_fields(*, name: Any, purpose: Any, capabilities: Any, autonomy_level: Any, engine: Any, config: Any):
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    name = str(name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = [_("An agent needs a name of at most 200 characters.")]
    purpose = str(purpose or "").strip()
    if not purpose or len(purpose) > 5000:
        errors["purpose"] = [_("Say what the agent is for, in at most 5000 characters.")]
    if isinstance(autonomy_level, str) and autonomy_level.isdigit():
        autonomy_level = int(autonomy_level)
    if isinstance(autonomy_level, bool) or autonomy_level not in AutonomyLevel.values:
        errors["autonomy_level"] = [_("The autonomy level is 0, 1 or 2.")]
    if engine not in EngineName.values:
        errors["engine"] = [_("Choose one of: %(engines)s.") % {"engines": ", ".join(EngineName.values)}]
    for field, cleaner, raw in (("capabilities", clean_capabilities, capabilities), ("config", clean_config, config)):
        try:
            cleaned[field] = cleaner(raw)
        except ValidationFailed as error:
            errors.update(error.extra["errors"])
    if errors:
        raise ValidationFailed(errors=errors)
    cleaned.update(name=name, purpose=purpose, autonomy_level=autonomy_level, engine=engine)
    return cleaned


def _unique_name(*, institution: Institution, name: str, exclude_pk: int | None = None) -> None:
    clash = Agent.all_institutions.filter(institution=institution, name__iexact=name).exclude(pk=exclude_pk)
    if clash.exists():
        raise Conflict(_("This institution already has an agent called “%(name)s”.") % {"name": name})


# --- writes ----------------------------------------------------------------------------


@transaction.atomic
def agent_register(
    *,
    institution: Institution,
    actor,
    name: str,
    purpose: str,
    capabilities: Any,
    autonomy_level: Any = AutonomyLevel.ADVISES,
    engine: str,
    config: Any = None,
) -> Agent:
    """Register a draft agent with its own Ed25519 key and did:key, its version 1 and an empty model card.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    _require_admin(actor=actor, institution=institution)
    cleaned = _clean_fields(
        name=name,
        purpose=purpose,
        capabilities=capabilities,
        autonomy_level=autonomy_level,
        engine=engine,
        config=config if config is not None else {},
    )
    _unique_name(institution=institution, name=cleaned["name"])
    agent = Agent(
        institution=institution,
        created_by=actor if not isinstance(actor, str) else None,
        **cleaned,
    )
    agent.save()
    key = signing_key_create(
        owner_type=KeyOwnerType.AGENT, owner_id=str(agent.uid), actor=actor, institution=institution
    )
    agent.did = did_key_from_public_key(bytes(key.public_key))
    agent.save(update_fields=["did"])
    AgentVersion.objects.create(
        institution=institution,
        agent=agent,
        number=1,
        engine=agent.engine,
        config=agent.config,
        changed_by=agent.created_by,
        changed_by_label=_actor_label(actor),
        note="registered",
    )
    ModelCard.objects.create(institution=institution, agent=agent, purpose=agent.purpose)
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.agent.register",
        target=agent,
        changes={
            "uid": str(agent.uid),
            "did": agent.did,
            "name": agent.name,
            "capabilities": agent.capabilities,
            "autonomy_level": agent.autonomy_level,
            "engine": agent.engine,
            "version": 1,
        },
    )
    return agent


def _lock(agent: Agent) -> Agent:
    # tenancy: the row is the caller's own agent, re-read under a lock in its institution
    return Agent.all_institutions.select_for_update().get(pk=agent.pk, institution_id=agent.institution_id)


@transaction.atomic
def agent_update(
    *,
    agent: Agent,
    actor,
    name: str,
    purpose: str,
    capabilities: Any,
    autonomy_level: Any,
    engine: str,
    config: Any,
) -> Agent:
    """Change an agent; a new engine or configuration is a new version, and a certified agent
    whose engine or configuration changed is a draft again until it is certified anew.

    Raises: PermissionDenied, ValidationFailed, Conflict, InvalidTransition."""
    _require_admin(actor=actor, institution=agent.institution)
    agent = _lock(agent)
    if agent.status == AgentStatus.RETIRED:
        raise InvalidTransition(_("A retired agent cannot be changed."))
    cleaned = _clean_fields(
        name=name,
        purpose=purpose,
        capabilities=capabilities,
        autonomy_level=autonomy_level,
        engine=engine,
        config=config,
    )
    _unique_name(institution=agent.institution, name=cleaned["name"], exclude_pk=agent.pk)
    changes = {
        field: {"from": getattr(agent, field), "to": value}
        for field, value in cleaned.items()
        if getattr(agent, field) != value
    }
    if not changes:
        return agent
    new_version = "engine" in changes or "config" in changes
    for field, value in cleaned.items():
        setattr(agent, field, value)
    if new_version:
        agent.version += 1
        if agent.status == AgentStatus.CERTIFIED:
            # What the authorities certified is no longer what would run.
            agent.transition_to(AgentStatus.DRAFT)
            agent.status_reason = _("Engine or configuration changed; certification needed again.")
        elif agent.status == AgentStatus.SUSPENDED and agent.suspended_from == AgentStatus.CERTIFIED:
            agent.suspended_from = AgentStatus.DRAFT
        AgentVersion.objects.create(
            institution=agent.institution,
            agent=agent,
            number=agent.version,
            engine=agent.engine,
            config=agent.config,
            changed_by=actor if actor is not None and not isinstance(actor, str) else None,
            changed_by_label=_actor_label(actor),
            note=", ".join(sorted(changes)),
        )
    agent.save()
    if "config" in changes:  # configurations can be long; the version row keeps them
        changes["config"] = {"changed": True}
    audit_append(
        institution=agent.institution,
        actor=actor,
        action="agents.agent.update",
        target=agent,
        changes={"uid": str(agent.uid), "version": agent.version, "status": agent.status, **changes},
    )
    return agent


def _reason(reason: Any, *, required: bool) -> str:
    reason = str(reason or "").strip()
    if required and not reason:
        raise ValidationFailed(errors={"reason": [_("Give the reason; it is recorded in the audit log.")]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed(errors={"reason": [_("At most %(n)s characters.") % {"n": MAX_REASON}]})
    return reason


def _status_change(*, agent: Agent, actor, status: str, reason: str, action: str) -> Agent:
    previous = agent.status
    agent.transition_to(status)
    agent.status_reason = reason
    agent.save(update_fields=["status", "suspended_from", "status_reason", "status_changed_at", "updated_at"])
    audit_append(
        institution=agent.institution,
        actor=actor,
        action=action,
        target=agent,
        changes={"uid": str(agent.uid), "from": previous, "to": status, "reason": reason, "version": agent.version},
    )
    return agent


@transaction.atomic
def agent_suspend(*, agent: Agent, actor, reason: str) -> Agent:
    """The kill switch: the agent stops being given work at once (`agent_is_active` turns false).

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require_admin(actor=actor, institution=agent.institution)
    reason = _reason(reason, required=True)
    agent = _lock(agent)
    return _status_change(
        agent=agent, actor=actor, status=AgentStatus.SUSPENDED, reason=reason, action="agents.agent.suspend"
    )


@transaction.atomic
def agent_reinstate(*, agent: Agent, actor, reason: str = "") -> Agent:
    """Lift a suspension: the agent returns to the status it was suspended from.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require_admin(actor=actor, institution=agent.institution)
    reason = _reason(reason, required=False)
    agent = _lock(agent)
    if agent.status != AgentStatus.SUSPENDED:
        raise InvalidTransition(_("Only a suspended agent can be reinstated."))
    target = agent.suspended_from or AgentStatus.DRAFT
    return _status_change(agent=agent, actor=actor, status=target, reason=reason, action="agents.agent.reinstate")


@transaction.atomic
def agent_retire(*, agent: Agent, actor, reason: str = "") -> Agent:
    """Retire an agent for good; its DID, versions and model card stay for the record.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require_admin(actor=actor, institution=agent.institution)
    reason = _reason(reason, required=False)
    agent = _lock(agent)
    return _status_change(
        agent=agent, actor=actor, status=AgentStatus.RETIRED, reason=reason, action="agents.agent.retire"
    )


@transaction.atomic
def agent_certify(*, agent: Agent, actor, proposal) -> Agent:
    """Move a draft agent to certified; only the effect of an approved threshold proposal calls this.

    Raises: Conflict (the agent changed since the proposal), InvalidTransition."""
    agent = _lock(agent)
    payload = proposal.payload
    if agent.version != payload.get("version") or agent.did != payload.get("did"):
        raise Conflict(
            _("The agent changed since certification was proposed (now version %(version)s); propose it again.")
            % {"version": agent.version}
        )
    if agent.status != AgentStatus.DRAFT:
        raise InvalidTransition(
            _("Only a draft agent can be certified; this one is “%(status)s”.") % {"status": agent.get_status_display()}
        )
    return _status_change(
        agent=agent,
        actor=actor,
        status=AgentStatus.CERTIFIED,
        reason=_("Certified by threshold approval %(uid)s.") % {"uid": proposal.uid},
        action="agents.agent.certify",
    )


def _clean_sources(value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value or "[]")
        except ValueError:
            raise ValidationFailed(errors={"training_sources": [_("Not valid JSON.")]}) from None
    message = _("A list of sources, each with a “name” and its “provenance” (text).")
    if not isinstance(value, list) or len(value) > 50:
        raise ValidationFailed(errors={"training_sources": [message]})
    cleaned = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"name", "provenance"}:
            raise ValidationFailed(errors={"training_sources": [message]})
        name, provenance = str(item.get("name") or "").strip(), str(item.get("provenance") or "").strip()
        if not name or not provenance or len(name) > 300 or len(provenance) > 2000:
            raise ValidationFailed(errors={"training_sources": [message]})
        cleaned.append({"name": name, "provenance": provenance})
    return cleaned


def _clean_metrics(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            raise ValidationFailed(errors={"evaluation_metrics": [_("Not valid JSON.")]}) from None
    if not isinstance(value, dict) or len(json.dumps(value)) > MAX_CONFIG_BYTES:
        raise ValidationFailed(errors={"evaluation_metrics": [_('A JSON object of metrics, such as {"f1": 0.91}.')]})
    problems = _config_problems(value, path="", depth=0)
    if problems:
        raise ValidationFailed(errors={"evaluation_metrics": problems[:10]})
    return value


@transaction.atomic
def model_card_update(
    *,
    agent: Agent,
    actor,
    purpose: str,
    training_sources: Any,
    evaluation_metrics: Any,
    known_limits: str,
    accountable_person: str,
    public: bool,
) -> ModelCard:
    """Rewrite an agent's model card.

    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=agent.institution)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, cleaner, raw in (
        ("training_sources", _clean_sources, training_sources),
        ("evaluation_metrics", _clean_metrics, evaluation_metrics),
    ):
        try:
            cleaned[field] = cleaner(raw)
        except ValidationFailed as error:
            errors.update(error.extra["errors"])
    for field, raw, limit in (("purpose", purpose, 5000), ("known_limits", known_limits, 5000)):
        cleaned[field] = str(raw or "").strip()
        if len(cleaned[field]) > limit:
            errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
    cleaned["accountable_person"] = str(accountable_person or "").strip()
    if len(cleaned["accountable_person"]) > 200:
        errors["accountable_person"] = [_("At most %(n)s characters.") % {"n": 200}]
    if not isinstance(public, bool):
        errors["public"] = [_("Public is true or false.")]
    elif public and not (cleaned["accountable_person"] and cleaned["purpose"]):
        errors["public"] = [_("A public model card names its purpose and the person accountable for the agent.")]
    if errors:
        raise ValidationFailed(errors=errors)
    cleaned["public"] = public
    # tenancy: the card of the caller's own agent
    card = ModelCard.all_institutions.select_for_update().get(agent=agent, institution_id=agent.institution_id)
    changed = sorted(field for field, value in cleaned.items() if getattr(card, field) != value)
    for field, value in cleaned.items():
        setattr(card, field, value)
    card.updated_at = timezone.now()
    card.save()
    audit_append(
        institution=agent.institution,
        actor=actor,
        action="agents.model_card.update",
        target=card,
        changes={"agent": str(agent.uid), "changed": changed, "public": public},
    )
    return card


# --- certification: the threshold act "certify_agent" ------------------------------------


def certification_validate(payload: Any) -> dict[str, Any]:
    """The payload of a certification proposal: the proposing institution's own draft agent, as it is now.

    Raises: ValidationFailed, Conflict."""
    from apps.tenancy.scope import current_institution
    from apps.trust.models import ActType, ProposalStatus, ThresholdProposal

    institution = current_institution()
    if institution is None:  # fail closed: the proposer's scope says whose agent it may be
        raise ValidationFailed(errors={"agent": [_("Certification is proposed from the agent's institution.")]})
    if not isinstance(payload, dict) or not payload.get("agent"):
        raise ValidationFailed(errors={"agent": [_("Name the agent to certify by its identifier.")]})
    from django.http import Http404

    from apps.agents.selectors import agent_get

    try:
        agent = agent_get(institution=institution, agent_uid=payload["agent"])
    except Http404:
        raise ValidationFailed(errors={"agent": [_("This institution has no such agent.")]}) from None
    if agent.status != AgentStatus.DRAFT:
        raise Conflict(
            _("Only a draft agent can be proposed for certification; this one is “%(status)s”.")
            % {"status": agent.get_status_display()}
        )
    open_proposals = ThresholdProposal.objects.filter(
        institution=institution, act_type=ActType.CERTIFY_AGENT, status=ProposalStatus.PROPOSED
    )
    if any(p.payload.get("agent") == str(agent.uid) and p.is_open for p in open_proposals):
        raise Conflict(_("A certification of this agent is already awaiting signatures."))
    return {
        "agent": str(agent.uid),
        "did": agent.did,
        "name": agent.name,
        "institution": institution.slug,
        "version": agent.version,
        "engine": agent.engine,
        "capabilities": agent.capabilities,
        "autonomy_level": agent.autonomy_level,
    }


def certification_apply(*, proposal, actor) -> dict[str, Any]:
    """Runs in the proposer's scope once k authorities signed. Raises: Conflict, InvalidTransition."""
    # tenancy: the proposal's own institution (the effect runs in its scope)
    agent = Agent.all_institutions.filter(institution=proposal.institution, uid=proposal.payload["agent"]).first()
    if agent is None:
        raise Conflict(_("The agent of this proposal no longer exists."))
    agent = agent_certify(agent=agent, actor=actor, proposal=proposal)
    return {"agent": str(agent.uid), "did": agent.did, "version": agent.version, "status": agent.status}


@transaction.atomic
def agent_certification_propose(*, agent: Agent, actor, expires_in_days: int | None = None):
    """Propose the certification of a draft agent to the authorities of the "certify_agent" policy.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    from apps.tenancy.scope import institution_scope
    from apps.trust.models import ActType
    from apps.trust.services import DEFAULT_PROPOSAL_DAYS, threshold_proposal_create

    with institution_scope(agent.institution):
        return threshold_proposal_create(
            institution=agent.institution,
            act_type=ActType.CERTIFY_AGENT,
            payload={"agent": str(agent.uid)},
            actor=actor,
            expires_in_days=expires_in_days or DEFAULT_PROPOSAL_DAYS,
        )
