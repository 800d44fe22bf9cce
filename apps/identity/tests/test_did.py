from unittest import mock

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.identity import did as dids
from apps.identity.credentials.services import user_did_ensure
from apps.identity.models import KeyOwnerType
from apps.identity.services import node_signing_key, signing_key_create

SPEC_DID = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"


def test_multikey_round_trip_and_did_key_document():
    public_key = bytes(range(32))
    multibase = dids.multikey_encode(public_key)
    assert multibase.startswith("z6Mk")
    assert dids.multikey_decode(multibase) == public_key
    did = dids.did_key_from_public_key(public_key)
    document = dids.resolve(did)
    method = document["verificationMethod"][0]
    assert method == {
        "id": f"{did}#{multibase}",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": multibase,
    }
    assert document["assertionMethod"] == document["authentication"] == [method["id"]]
    assert dids.resolve_verification_method(method["id"])[0] == method


def test_the_spec_did_key_resolves_offline():
    method, _ = dids.resolve_verification_method(f"{SPEC_DID}#{SPEC_DID.removeprefix('did:key:')}")
    assert len(dids.method_public_key(method)) == 32


@pytest.mark.parametrize("bad", ["did:key:z6Mk", "did:key:abc", "did:key:z" + "1" * 40, "did:example:123", 42])
def test_bad_dids_are_refused_with_a_clear_error(bad):
    with pytest.raises(dids.DidResolutionError):
        dids.resolve(bad)


def test_did_web_urls():
    assert dids.did_web_url("did:web:example.org") == "https://example.org/.well-known/did.json"
    assert (
        dids.did_web_url("did:web:example.org%3A8443:institutions:x")
        == "https://example.org:8443/institutions/x/did.json"
    )


@pytest.mark.django_db
def test_node_did_document_is_served(client, settings):
    settings.CIVITAS_NODE_URL = "https://civitas.example:8443"
    key = node_signing_key()
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    document = response.json()
    assert document["id"] == "did:web:civitas.example%3A8443" == dids.node_did()
    assert document["verificationMethod"][0]["publicKeyMultibase"] == dids.multikey_encode(bytes(key.public_key))


@pytest.mark.django_db
def test_institution_did_document_keeps_retired_keys_marked(client, aurelia):
    old = signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(aurelia.pk), institution=aurelia)
    new = signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(aurelia.pk), institution=aurelia)
    response = client.get("/institutions/aurelia/did.json")
    assert response.status_code == 200
    document = response.json()
    assert document["id"] == dids.institution_did_for(aurelia)
    methods = {m["publicKeyMultibase"]: m for m in document["verificationMethod"]}
    old_method = methods[dids.multikey_encode(bytes(old.public_key))]
    new_method = methods[dids.multikey_encode(bytes(new.public_key))]
    assert "revoked" in old_method and "revoked" not in new_method
    assert old_method["id"] in document["assertionMethod"] and old_method["id"] not in document["authentication"]
    assert client.get("/institutions/nowhere/did.json").status_code == 404
    assert AuditEvent.objects.filter(action="identity.key.create").count() == 2  # rotation stays audited


@pytest.mark.django_db
def test_own_did_web_resolves_locally_without_http(aurelia):
    signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(aurelia.pk), institution=aurelia)
    with mock.patch("apps.identity.did.requests.get") as get:
        document = dids.resolve(dids.institution_did_for(aurelia))
    get.assert_not_called()
    assert len(document["verificationMethod"]) == 1


PUBLIC_ADDRESS = [(2, 1, 6, "", ("93.184.215.14", 443))]


@pytest.fixture
def public_dns():
    """Other nodes' names resolve to a public address (no DNS in tests)."""
    with mock.patch("apps.identity.did.socket.getaddrinfo", return_value=PUBLIC_ADDRESS):
        yield


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1"])
def test_did_web_never_fetches_inside_our_network(address):
    family = 10 if ":" in address else 2
    with (
        mock.patch("apps.identity.did.socket.getaddrinfo", return_value=[(family, 1, 6, "", (address, 443))]),
        mock.patch("apps.identity.did.requests.get") as get,
        pytest.raises(dids.DidResolutionError, match="not a public address"),
    ):
        dids.resolve("did:web:internal.example")
    get.assert_not_called()


@pytest.mark.django_db
@pytest.mark.usefixtures("public_dns")
def test_other_did_web_is_fetched_over_https_and_cached():
    did = "did:web:other.example:institutions:x"
    document = {"id": did, "verificationMethod": []}
    response = mock.Mock(status_code=200, content=b"{}", json=lambda: document)
    with mock.patch("apps.identity.did.requests.get", return_value=response) as get:
        assert dids.resolve(did) == document
        assert dids.resolve(did) == document
    get.assert_called_once()
    assert get.call_args.args[0] == "https://other.example/institutions/x/did.json"
    assert get.call_args.kwargs["timeout"] > 0


@pytest.mark.django_db
@pytest.mark.usefixtures("public_dns")
def test_unreachable_or_lying_did_web_is_an_error():
    down = mock.patch("apps.identity.did.requests.get", side_effect=requests.ConnectionError)
    with down, pytest.raises(dids.DidResolutionError):
        dids.resolve("did:web:down.example")
    lying = mock.Mock(status_code=200, content=b"{}", json=lambda: {"id": "did:web:someone.else"})
    with mock.patch("apps.identity.did.requests.get", return_value=lying), pytest.raises(dids.DidResolutionError):
        dids.resolve("did:web:liar.example")


@pytest.mark.django_db
def test_users_get_a_did_key_once(alice):
    did = user_did_ensure(user=alice)
    assert did.startswith("did:key:z6Mk")
    assert user_did_ensure(user=alice) == did
    alice.refresh_from_db()
    assert alice.did == did
    assert AuditEvent.objects.filter(action="identity.user.did").count() == 1
