"""An institution's keys and DID: administrators rotate and retire, auditors read, nobody sees a private key."""

from __future__ import annotations

import base64

import base58
import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity import did as dids
from apps.identity import keys
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import signing_key_create
from apps.tenancy.models import Role
from portal.testing import UserFactory, api_as, enrol_totp, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def audra(aurelia):
    """Aurelia's auditor, and nothing else."""
    user = member(UserFactory(username="audra"), aurelia, Role.AUDITOR)
    enrol_totp(user)
    return user


def _keys_of(institution):
    return SigningKey.objects.filter(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk))


def _key(institution) -> SigningKey:
    with transaction.atomic():
        return signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk))


def _state(institution):
    return (
        sorted(_keys_of(institution).values_list("key_id", "status", "retired_at")),
        AuditEvent.objects.filter(action__startswith="identity.key.").count(),
    )


def url(name, institution, **kwargs):
    return reverse(name, kwargs={"institution_slug": institution.slug, **kwargs})


def test_admins_see_the_did_and_public_keys(client, aurelia, ada):
    key = _key(aurelia)
    client.force_login(ada)
    page = client.get(url("keys:list", aurelia)).content.decode()
    assert aurelia.did in page
    assert reverse("institution-did", kwargs={"slug": aurelia.slug}) in page
    assert key.key_id in page and dids.multikey_encode(bytes(key.public_key)) in page
    assert url("keys:rotate", aurelia) in page
    assert url("keys:retire", aurelia, signing_key_id=key.pk) in page


def test_auditors_read_but_cannot_change(client, aurelia, audra):
    key = _key(aurelia)
    client.force_login(audra)
    page = client.get(url("keys:list", aurelia))
    assert page.status_code == 200 and key.key_id in page.content.decode()
    assert url("keys:rotate", aurelia) not in page.content.decode()
    before = _state(aurelia)
    for path in (url("keys:rotate", aurelia), url("keys:retire", aurelia, signing_key_id=key.pk)):
        assert client.get(path).status_code == 403
        assert client.post(path).status_code == 403
    assert _state(aurelia) == before


def test_other_members_get_403_and_other_institutions_404(client, aurelia, alice, charlie):
    key = _key(aurelia)
    before = _state(aurelia)
    client.force_login(alice)
    assert client.get(url("keys:list", aurelia)).status_code == 403
    assert client.post(url("keys:rotate", aurelia)).status_code == 403
    client.force_login(charlie)
    for path in (
        url("keys:list", aurelia),
        url("keys:rotate", aurelia),
        url("keys:retire", aurelia, signing_key_id=key.pk),
    ):
        assert client.get(path).status_code == 404
        assert client.post(path).status_code == 404
    assert _state(aurelia) == before


def test_rotate_asks_then_retires_the_old_key_and_audits(client, aurelia, ada):
    old = _key(aurelia)
    client.force_login(ada)
    confirm = client.get(url("keys:rotate", aurelia))
    assert confirm.status_code == 200 and b'method="post"' in confirm.content
    assert _keys_of(aurelia).count() == 1  # asking changed nothing
    response = client.post(url("keys:rotate", aurelia), follow=True)
    new = _keys_of(aurelia).get(status=KeyStatus.ACTIVE)
    old.refresh_from_db()
    assert old.status == KeyStatus.RETIRED and old.retired_at is not None and new.pk != old.pk
    assert new.key_id in response.content.decode()  # the success message names it
    event = AuditEvent.objects.get(action="identity.key.create", changes__key_id=new.key_id)
    assert event.institution_id == aurelia.pk and event.actor_id == str(ada.pk)
    assert event.changes["retired"] == [old.key_id]
    document = client.get(reverse("institution-did", kwargs={"slug": aurelia.slug})).json()
    revoked = {m["publicKeyMultibase"]: m.get("revoked") for m in document["verificationMethod"]}
    assert (
        revoked[dids.multikey_encode(bytes(old.public_key))]
        and not revoked[dids.multikey_encode(bytes(new.public_key))]
    )


def test_retire_retires_the_active_key_once(client, aurelia, ada):
    key = _key(aurelia)
    client.force_login(ada)
    path = url("keys:retire", aurelia, signing_key_id=key.pk)
    assert client.get(path).status_code == 200
    response = client.post(path, follow=True)
    key.refresh_from_db()
    assert key.status == KeyStatus.RETIRED and key.retired_at is not None
    assert "no active key" in response.content.decode()
    assert AuditEvent.objects.filter(action="identity.key.retire", actor_id=ada.pk, institution=aurelia).count() == 1
    before = _state(aurelia)
    assert client.get(path).status_code == 409
    again = client.post(path)
    assert again.status_code == 409 and b"already retired" in again.content
    assert _state(aurelia) == before


def test_another_institutions_key_is_not_found_under_ours(client, aurelia, borealis, ada):
    foreign = _key(borealis)
    client.force_login(ada)
    path = url("keys:retire", aurelia, signing_key_id=foreign.pk)
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == KeyStatus.ACTIVE


def test_the_node_key_is_not_an_institution_key(client, aurelia, ada):
    with transaction.atomic():
        node_key = signing_key_create(owner_type=KeyOwnerType.NODE)
    client.force_login(ada)
    assert client.post(url("keys:retire", aurelia, signing_key_id=node_key.pk)).status_code == 404
    assert node_key.key_id not in client.get(url("keys:list", aurelia)).content.decode()


def test_api_lists_and_rotates(aurelia, ada, audra, alice, charlie, django_assert_max_num_queries):
    old = _key(aurelia)
    for _ in range(3):
        _key(aurelia)
    with django_assert_max_num_queries(12):
        listing = api_as(audra).get(url("api-keys", aurelia))
    assert listing.status_code == 200
    data = listing.json()
    assert data["did"] == aurelia.did and data["did_document"].endswith(f"/institutions/{aurelia.slug}/did.json")
    assert len(data["keys"]) == 4 and data["keys"][-1]["key_id"] == old.key_id
    assert data["keys"][0]["status"] == "active" and data["keys"][-1]["retired_at"]
    multibase = dids.multikey_encode(bytes(old.public_key))
    assert data["keys"][-1]["verification_method"] == f"{aurelia.did}#{multibase}"

    before = _state(aurelia)
    assert api_as(audra).post(url("api-keys-rotate", aurelia)).status_code == 403
    assert api_as(alice).get(url("api-keys", aurelia)).status_code == 403
    assert api_as(charlie).get(url("api-keys", aurelia)).status_code == 404
    assert api_as(charlie).post(url("api-keys-rotate", aurelia)).status_code == 404
    assert _state(aurelia) == before

    rotated = api_as(ada).post(url("api-keys-rotate", aurelia))
    assert rotated.status_code == 201
    assert _keys_of(aurelia).get(status=KeyStatus.ACTIVE).key_id == rotated.json()["key_id"]
    assert AuditEvent.objects.filter(action="identity.key.create", actor_id=ada.pk).count() == 1


def _secret_forms(key: SigningKey) -> list[str]:
    """Every way the private half of a key might leak into text: raw, sealed, in common encodings."""
    private = keys.unseal(key.encrypted_private_key, key_id=key.key_id)
    forms = []
    for secret in (private, bytes(key.encrypted_private_key)):
        forms += [
            secret.hex(),
            base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
            base58.b58encode(secret).decode(),
        ]
    forms.append(dids.multikey_encode(private))  # a private key mistaken for a public one
    return forms


def test_no_private_or_sealed_key_material_appears_anywhere(client, aurelia, ada, capsys):
    first = _key(aurelia)
    client.force_login(ada)
    rotated = api_as(ada).post(url("api-keys-rotate", aurelia))
    second = _keys_of(aurelia).get(status=KeyStatus.ACTIVE)
    retire_page = client.get(url("keys:retire", aurelia, signing_key_id=second.pk))
    client.post(url("keys:retire", aurelia, signing_key_id=second.pk))
    call_command("keys", "list")
    texts = {
        "page": client.get(url("keys:list", aurelia)).content.decode(),
        "rotate page": client.get(url("keys:rotate", aurelia)).content.decode(),
        "retire page": retire_page.content.decode(),
        "api list": api_as(ada).get(url("api-keys", aurelia)).content.decode(),
        "api rotate": rotated.content.decode(),
        "did document": client.get(reverse("institution-did", kwargs={"slug": aurelia.slug})).content.decode(),
        "command": capsys.readouterr().out,
        "audit": str(list(AuditEvent.objects.values_list("changes", flat=True))),
    }
    assert first.key_id in texts["page"] and second.key_id in texts["api list"]  # control: the keys are there
    for key in (first, second):
        for secret in _secret_forms(key):
            for where, text in texts.items():
                assert secret not in text, f"private material of {key.key_id} in the {where}"
    for where in ("api list", "api rotate"):
        assert "private" not in texts[where] and "encrypted" not in texts[where], where
