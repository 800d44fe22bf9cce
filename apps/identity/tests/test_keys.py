import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.identity import keys
from apps.identity.models import KeyStatus, SigningKey
from apps.identity.services import node_signing_key, signing_key_create, signing_key_sign, signing_keys_rewrap

OTHER_MASTER = base64.b64encode(b"o" * 32).decode()


@pytest.mark.django_db
def test_private_keys_are_stored_encrypted_and_sign():
    key = node_signing_key()
    raw_private = keys.unseal(key.encrypted_private_key, key_id=key.key_id)
    assert raw_private not in bytes(key.encrypted_private_key)
    signature = signing_key_sign(key=key, message=b"hello")
    assert keys.verify(key.public_key, signature, b"hello")
    assert not keys.verify(key.public_key, signature, b"hullo")
    assert AuditEvent.objects.filter(action="identity.key.create").count() == 1


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_key_row_does_not_open():
    a = signing_key_create(owner_type="institution", owner_id="1")
    b = signing_key_create(owner_type="institution", owner_id="2")
    with pytest.raises(ImproperlyConfigured):
        keys.unseal(a.encrypted_private_key, key_id=b.key_id)


@pytest.mark.django_db
def test_rotation_retires_the_old_key_which_still_verifies():
    old = node_signing_key()
    signature = signing_key_sign(key=old, message=b"signed before rotation")
    new = signing_key_create(owner_type="node")
    old.refresh_from_db()
    assert old.status == KeyStatus.RETIRED and new.status == KeyStatus.ACTIVE
    assert node_signing_key() == new
    assert keys.verify(old.public_key, signature, b"signed before rotation")


@pytest.mark.django_db
def test_master_key_rotation_with_rewrap(settings):
    key = node_signing_key()
    original = keys.unseal(key.encrypted_private_key, key_id=key.key_id)
    old_master = settings.CIVITAS_MASTER_KEY
    settings.CIVITAS_MASTER_KEY = OTHER_MASTER
    settings.CIVITAS_MASTER_KEYS_OLD = [old_master]
    assert signing_keys_rewrap() == 1
    settings.CIVITAS_MASTER_KEYS_OLD = []
    key.refresh_from_db()
    assert keys.unseal(key.encrypted_private_key, key_id=key.key_id) == original
    assert AuditEvent.objects.filter(action="identity.key.rewrap").exists()


@pytest.mark.django_db
def test_a_wrong_master_key_cannot_open_keys(settings):
    key = node_signing_key()
    settings.CIVITAS_MASTER_KEY = OTHER_MASTER
    with pytest.raises(ImproperlyConfigured):
        signing_key_sign(key=key, message=b"x")


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_is_a_clear_configuration_error(settings, bad):
    settings.CIVITAS_MASTER_KEY = bad
    with pytest.raises(ImproperlyConfigured, match="CIVITAS_MASTER_KEY"):
        keys.seal(b"x", key_id="k")


@pytest.mark.django_db
def test_keys_command_lists_public_parts_only(capsys):
    key = node_signing_key()
    call_command("keys", "rotate")
    call_command("keys", "list")
    out = capsys.readouterr().out
    assert key.key_id in out and "retired" in out
    assert bytes(key.encrypted_private_key).hex() not in out
    assert SigningKey.objects.filter(status=KeyStatus.ACTIVE).count() == 1
