"""The envelope types this app handles itself."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from apps.federation.envelopes import reject
from apps.federation.models import InboxEnvelope
from apps.federation.registry import envelope_handler
from apps.federation.selectors import institution_names_by_did
from apps.federation.services import PING_MESSAGE_MAX
from apps.notifications.services import notification_send
from apps.tenancy.models import Institution, Role
from apps.tenancy.selectors import memberships_of_institution


@envelope_handler("federation.ping")
def ping_receive(*, envelope: InboxEnvelope, recipient: Institution) -> None:
    """Tell the recipient's administrators that another institution reached them."""
    body = envelope.body
    message = body.get("message", "")
    if set(body) - {"message"} or not isinstance(message, str) or len(message) > PING_MESSAGE_MAX:
        raise reject("invalid_body", _('A ping\'s body is {"message": text of at most 500 characters}.'))
    url = reverse(
        "federation:inbox-detail",
        kwargs={"institution_slug": recipient.slug, "inbox_envelope_id": envelope.envelope_id},
    )
    # DIDs are public: name the sender when it is an institution of this node.
    sender = institution_names_by_did({envelope.sender_did}).get(envelope.sender_did) or envelope.sender_did
    admins = memberships_of_institution(institution=recipient).filter(role=Role.INSTITUTION_ADMIN)
    for membership in admins:
        notification_send(
            institution=recipient,
            recipient=membership.user,
            title=_("Ping from %(sender)s") % {"sender": sender},
            body=message,
            url=url,
            actor=envelope.sender_did,
        )
