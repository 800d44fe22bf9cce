"""The key ceremony command: split the node key among officers, recover it."""

from __future__ import annotations

import base64
import itertools
import json
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.identity import keys
from apps.identity.models import SigningKey
from apps.identity.services import node_signing_key
from apps.trust.models import KeyCeremony

pytestmark = pytest.mark.django_db

OFFICERS = ["Ana Lima", "Bo Chen", "Cai Ortiz", "Dee Park", "Eli Novak"]


def _split(tmp_path, *, k=3, n=5, officers=OFFICERS, extra=()):
    out = StringIO()
    args = ["split", "--k", str(k), "--n", str(n), "--out", str(tmp_path), "--by", "operator", *extra]
    for name in officers:
        args += ["--officer", name]
    call_command("key_ceremony", *args, stdout=out)
    return out.getvalue()


def _recover(*files, restore=False):
    out = StringIO()
    args = ["recover", "--by", "operator"]
    for path in files:
        args += ["--share", str(path)]
    if restore:
        args.append("--restore")
    call_command("key_ceremony", *args, stdout=out)
    return out.getvalue()


def _secret(key: SigningKey) -> bytes:
    return keys.unseal(key.encrypted_private_key, key_id=key.key_id)


@pytest.fixture
def node_key(db):
    return node_signing_key()


def test_split_writes_one_private_file_per_officer_and_audits_without_shares(tmp_path, node_key, caplog):
    caplog.set_level(logging.DEBUG)
    output = _split(tmp_path)
    files = sorted(tmp_path.iterdir())
    assert len(files) == 5
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    shares = [json.loads(f.read_text()) for f in files]
    assert sorted(s["officer"] for s in shares) == sorted(OFFICERS)
    assert {s["key_id"] for s in shares} == {node_key.key_id}
    secret = _secret(node_key)
    for share in shares:  # neither the key nor a share is printed, logged or audited
        assert share["share"] not in output and share["share"] not in caplog.text
    assert secret.hex() not in output and secret.hex() not in caplog.text
    ceremony = KeyCeremony.objects.get()
    assert (ceremony.k, ceremony.n, ceremony.key_id, ceremony.conducted_by) == (3, 5, node_key.key_id, "operator")
    event = AuditEvent.objects.get(action="trust.key_ceremony.split")
    assert event.changes["k"] == 3 and event.changes["n"] == 5 and event.changes["key_id"] == node_key.key_id
    assert event.actor_label == "key_ceremony:operator"
    assert not any(s["share"] in json.dumps(event.changes) for s in shares)


def test_any_k_shares_recover_the_key(tmp_path, node_key):
    _split(tmp_path)
    files = sorted(tmp_path.iterdir())
    for subset in itertools.combinations(files, 3):
        assert "matches its public key" in _recover(*subset)
    assert "matches its public key" in _recover(*files)
    assert AuditEvent.objects.filter(action="trust.key_ceremony.recover").count() == 11


def test_k_minus_one_shares_are_insufficient(tmp_path, node_key):
    from apps.trust import ceremony, shamir

    _split(tmp_path)
    files = sorted(tmp_path.iterdir())[:2]
    events = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="Insufficient shares"):
        _recover(*files)
    assert AuditEvent.objects.count() == events
    # Interpolating two shares anyway gives a different key.
    parsed = [ceremony.parse_share(f.read_text()) for f in files]
    assert shamir.combine([(s["index"], s["_y"]) for s in parsed]) != _secret(node_key)


def test_a_corrupted_share_is_detected(tmp_path, node_key):
    _split(tmp_path)
    files = sorted(tmp_path.iterdir())
    share = json.loads(files[0].read_text())
    raw = bytearray(base64.b64decode(share["share"]))
    raw[0] ^= 0x01
    share["share"] = base64.b64encode(bytes(raw)).decode()
    files[0].write_text(json.dumps(share))
    with pytest.raises(CommandError, match="corrupted"):
        _recover(*files[:3])
    files[1].write_text(files[1].read_text()[:-40])
    with pytest.raises(CommandError, match="not a share file"):
        _recover(files[1], *files[2:4])


def test_a_forged_share_with_a_fixed_checksum_is_still_caught(tmp_path, node_key):
    from apps.trust import ceremony

    _split(tmp_path)
    files = sorted(tmp_path.iterdir())
    share = json.loads(files[0].read_text())
    share["share"] = base64.b64encode(bytes(32)).decode()
    share["checksum"] = ceremony._checksum(share)
    files[0].write_text(json.dumps(share))
    with pytest.raises(CommandError, match="do not rebuild the key"):
        _recover(*files[:3])
    # With a spare genuine share, the wrong one is routed around.
    assert "matches its public key" in _recover(*files[:4])


def test_shares_of_different_ceremonies_do_not_mix(tmp_path, node_key):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _split(tmp_path / "a")
    _split(tmp_path / "b")
    a, b = sorted((tmp_path / "a").iterdir()), sorted((tmp_path / "b").iterdir())
    with pytest.raises(CommandError, match="does not belong"):
        _recover(a[0], a[1], b[2])


def test_restore_reseals_under_a_new_master_key(tmp_path, node_key, settings):
    _split(tmp_path)
    files = sorted(tmp_path.iterdir())
    secret = _secret(node_key)
    settings.CIVITAS_MASTER_KEY = keys.generate_master_key()  # the old master key is lost
    settings.CIVITAS_MASTER_KEYS_OLD = []
    assert "sealed again" in _recover(*files[1:4], restore=True)
    assert _secret(SigningKey.objects.get(pk=node_key.pk)) == secret


def test_restore_recreates_a_lost_key_row(tmp_path, node_key):
    _split(tmp_path)
    files = sorted(tmp_path.iterdir())
    secret, key_id, public = _secret(node_key), node_key.key_id, bytes(node_key.public_key)
    SigningKey.objects.filter(pk=node_key.pk).delete()
    assert "recreated" in _recover(*files[:3], restore=True)
    key = SigningKey.objects.get(key_id=key_id)
    assert bytes(key.public_key) == public and _secret(key) == secret and key.status == "active"
    assert AuditEvent.objects.filter(action="trust.key_ceremony.recover", changes__outcome="recreated").count() == 1


def test_split_refuses_bad_parameters_and_writes_nothing(tmp_path, node_key):
    for k, n, officers in [(3, 5, OFFICERS[:4]), (1, 5, OFFICERS), (6, 5, OFFICERS), (2, 2, ["Ana", "Ana"])]:
        with pytest.raises(CommandError):
            _split(tmp_path, k=k, n=n, officers=officers)
    assert list(tmp_path.iterdir()) == []
    assert not KeyCeremony.objects.exists()
    assert not AuditEvent.objects.filter(action="trust.key_ceremony.split").exists()


def test_split_never_overwrites_and_leaves_no_partial_ceremony(tmp_path, node_key):
    (tmp_path / "share-3-cai-ortiz.json").write_text("an earlier share")
    with pytest.raises(CommandError, match="already exists"):
        _split(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["share-3-cai-ortiz.json"]
    assert (tmp_path / "share-3-cai-ortiz.json").read_text() == "an earlier share"
    assert not KeyCeremony.objects.exists()


def test_split_of_a_named_key(tmp_path, db):
    from apps.identity.services import signing_key_create

    key = signing_key_create(owner_type="institution", owner_id="7")
    _split(tmp_path, k=2, n=2, officers=OFFICERS[:2], extra=["--key-id", key.key_id])
    assert "matches" in _recover(*sorted(tmp_path.iterdir()))
    with pytest.raises(CommandError, match="No key"):
        _split(tmp_path / "x", extra=["--key-id", "ed25519:nope"])
