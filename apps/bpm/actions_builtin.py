"""The actions the portal ships for service tasks.

- `notify`: an in-app notification to the members of a role (`role`) or one member (`user`),
  with `title` and optional `body`.
- `agents.cluster`: put `record` (an object) to the agent cluster named `cluster`; the call
  waits, and apps.agents' run listener (or beat's poll, should that task be lost) resumes it with
  `{"decision", "confidence", "flagged"}` once the run has a final decision (after the
  council's verdict when it was flagged), or fails the instance when the run failed.
- `council.review`: put a question before the council whose mandate covers `task_type` and
  `impact`; the call waits, and the council's verdict resumes it with
  `{"verdict", "decision"}` (the review subject "bpm.instance", apps/bpm/review.py).
- `webhook`: POST the task data (or `payload`) as JSON to `url` with an HMAC-SHA256 signature
  header; https to public addresses only (or to the hosts in CIVITAS_BPM_WEBHOOK_HOSTS), plain http
  only to loopback addresses when DJANGO_DEBUG is on; a JSON object answer is merged into the task
  data.

Issuing a permit's credential is permits' own action (`permits.issue`, apps/permits/process.py).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from apps.bpm.actions import ActionFailed, Waiting, register_action

WEBHOOK_TIMEOUT_SECONDS = 10
WEBHOOK_MAX_ANSWER_BYTES = 100_000
SIGNATURE_HEADER = "X-Civitas-Signature"


def _text(params: dict, name: str, *, limit: int = 2000, required: bool = True) -> str:
    value = params.get(name)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, (str, int, float)) or not str(value).strip():
        raise ActionFailed(_("The parameter %(name)s must be text.") % {"name": name})
    return str(value)[:limit]


def notify(*, call, params: dict) -> dict:
    from apps.identity.models import User
    from apps.notifications.services import notification_send
    from apps.tenancy.models import Membership

    institution = call.institution
    title = _text(params, "title", limit=200)
    body = _text(params, "body", required=False)
    if params.get("user"):
        people = list(
            User.objects.filter(username=str(params["user"]), memberships__institution=institution).distinct()
        )
    elif params.get("role"):
        people = [
            m.user
            for m in Membership.objects.filter(institution=institution, role=str(params["role"])).select_related("user")
        ]
    else:
        raise ActionFailed(_("Say whom to notify: a role or a user."))
    url = f"/i/{institution.slug}/bpm/instances/{call.instance_id}/"
    for person in people:
        notification_send(institution=institution, recipient=person, title=title, body=body, url=url)
    return {"notified": len(people)}


def cluster_start(*, call, params: dict) -> Waiting:
    from apps.agents.clusters import services as cluster_services
    from apps.agents.models import Cluster
    from portal.errors import ApplicationError

    name = str(params.get("cluster") or "")
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None:
        raise ActionFailed(_("This institution has no agent cluster named %(name)r.") % {"name": name})
    record = params.get("record")
    if not isinstance(record, dict):
        raise ActionFailed(_("The record put to a cluster must be an object."))
    try:
        run = cluster_services.cluster_run_start(cluster=cluster, record=record, documents={}, actor=None)
    except ApplicationError as exc:
        raise ActionFailed(exc.message) from None
    return Waiting(ref=run.pk)


def cluster_run_outcome(*, call) -> dict | Exception | None:
    """A finished run's outcome for the waiting call, an error, or None while it is not final."""
    from apps.agents.models import ClusterRun, ClusterRunStatus

    run = ClusterRun.objects.filter(pk=int(call.external_ref or 0)).first()
    if run is None:
        return ActionFailed(_("The cluster run is gone."))
    if run.status == ClusterRunStatus.FAILED:
        return ActionFailed(_("The agent cluster's run failed: %(error)s") % {"error": run.error})
    if not run.final_decision:
        return None  # still running, or flagged and before a council
    return {"decision": run.final_decision, "confidence": run.confidence, "flagged": run.flagged}


def council_review(*, call, params: dict) -> Waiting:
    from apps.bpm.review import SUBJECT_TYPE
    from apps.feedback import services as feedback_services
    from apps.feedback.models import Impact, ItemKind
    from portal.errors import ApplicationError

    impact = str(params.get("impact") or "high")
    if impact not in Impact.values:
        raise ActionFailed(_("The impact must be one of: %(values)s.") % {"values": ", ".join(Impact.values)})
    decisions = params.get("allowed_decisions") or ["approve", "reject"]
    if isinstance(decisions, str):
        decisions = [d.strip() for d in decisions.split(",") if d.strip()]
    case = params.get("case")
    try:
        item = feedback_services.review_item_submit(
            institution=call.institution,
            kind=ItemKind.CRITICAL_ACT,
            subject_type=SUBJECT_TYPE,
            subject_id=call.pk,
            task_type=_text(params, "task_type", limit=80),
            impact=impact,
            question=_text(params, "question"),
            proposed_decision=str(params.get("proposed_decision") or "")[:100],
            allowed_decisions=list(decisions),
            case={"process_instance": call.instance_id, "step": call.element_id, "case": case},
        )
    except ApplicationError as exc:
        raise ActionFailed(exc.message) from None
    return Waiting(ref=item.pk)


def webhook_secret(institution) -> str:
    """The institution's webhook signing key (derived from DJANGO_SECRET_KEY; its administrators read it)."""
    return salted_hmac("civitas.bpm.webhook", institution.did or institution.slug, algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class WebhookTarget:
    """Where a webhook goes: the URL as written, and the address checked for it, which the connection
    uses (a second lookup could answer otherwise: DNS rebinding)."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def webhook_target(url: str) -> WebhookTarget:
    """An uploaded process must not turn the node against its own network (SSRF): https to a host whose
    every address is public, or to a host the operator allows (CIVITAS_BPM_WEBHOOK_HOSTS); plain http
    only to this machine, in development.

    Raises: ActionFailed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ActionFailed(_("The webhook's address has an invalid port.")) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    allowed = {h.strip().lower() for h in settings.CIVITAS_BPM_WEBHOOK_HOSTS if h.strip()}
    if parts.scheme == "https" and host:
        if allowed and host not in allowed:
            raise ActionFailed(
                _("This node calls webhooks only on the hosts its operator allows; %(host)s is not one of them.")
                % {"host": host}
            )
        addresses = _addresses(host, port)
        if host not in allowed and not all(ipaddress.ip_address(a).is_global for a in addresses):
            raise ActionFailed(
                _("Webhooks go to public addresses only; %(host)s is on a private or reserved network.")
                % {"host": host}
            )
        return WebhookTarget(url=url, scheme="https", host=host, port=port, address=addresses[0], path=path)
    if parts.scheme == "http" and settings.DEBUG and host:
        addresses = _addresses(host, port)
        if all(ipaddress.ip_address(a).is_loopback for a in addresses):
            return WebhookTarget(url=url, scheme="http", host=host, port=port, address=addresses[0], path=path)
    raise ActionFailed(_("Webhooks go to https addresses only (http only to this machine, in development)."))


def _addresses(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order.

    Raises: ActionFailed when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ActionFailed(_("The webhook's host %(host)s could not be found.") % {"host": host}) from None
    addresses = list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))
    if not addresses:
        raise ActionFailed(_("The webhook's host %(host)s could not be found.") % {"host": host})
    return addresses


def _deliver(target: WebhookTarget, *, body: bytes, headers: dict) -> tuple[int, bytes]:
    """POST to the checked address (TLS still verifies the certificate for the host name); no redirects,
    no retries; at most WEBHOOK_MAX_ANSWER_BYTES + 1 bytes of the answer are read.

    Raises: urllib3.exceptions.HTTPError, OSError."""
    import certifi
    import urllib3

    timeout = urllib3.Timeout(total=WEBHOOK_TIMEOUT_SECONDS)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=1)
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            preload_content=False,
        )
        try:
            content = response.read(WEBHOOK_MAX_ANSWER_BYTES + 1)
        finally:
            response.release_conn()
    return response.status, content


def webhook(*, call, params: dict) -> dict:
    import urllib3

    target = webhook_target(_text(params, "url"))
    payload = params.get("payload")
    body = json.dumps(
        {
            "process_instance": call.instance_id,
            "step": call.element_id,
            "delivery": call.pk,
            "data": payload if payload is not None else {},
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(webhook_secret(call.institution).encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: f"sha256={signature}",
        "X-Civitas-Delivery": str(call.pk),
    }
    try:
        status, content = _deliver(target, body=body, headers=headers)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ActionFailed(_("The webhook could not be reached: %(error)s") % {"error": type(exc).__name__}) from None
    if not 200 <= status < 300:
        raise ActionFailed(_("The webhook answered %(status)d.") % {"status": status})
    answer: Any = {}
    if content and len(content) <= WEBHOOK_MAX_ANSWER_BYTES:
        try:
            answer = json.loads(content)
        except ValueError:
            answer = {}
    return answer if isinstance(answer, dict) else {}


def register() -> None:
    register_action("notify", notify, label="Notify members", required_params=("title",))
    register_action(
        "agents.cluster",
        cluster_start,
        label="Run an agent cluster",
        required_params=("cluster", "record"),
        outcome=cluster_run_outcome,
    )
    register_action("council.review", council_review, label="Ask a council", required_params=("task_type", "question"))
    register_action("webhook", webhook, label="Call a webhook", required_params=("url",), network=True)
