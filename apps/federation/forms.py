from django import forms
from django.utils.translation import gettext_lazy as _

from apps.federation.services import PING_MESSAGE_MAX


class PingForm(forms.Form):
    recipient_did = forms.CharField(
        label=_("Recipient DID"),
        max_length=300,
        help_text=_("The DID of the institution to reach, such as did:web:example.org:institutions:aurelia."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    message = forms.CharField(
        label=_("Message"),
        max_length=PING_MESSAGE_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
