"""RFC 6962 hashing against the RFC's known answers and published proof vectors."""

from __future__ import annotations

import hashlib

import pytest

from apps.audit import merkle

# The eight leaves of RFC 6962's test tree, and the root of each prefix D[1..8].
RFC_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")] + [
    bytes.fromhex("606162636465666768696a6b6c6d6e6f")
]
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Published proof vectors for the same tree (Certificate Transparency / transparency-dev),
# as (leaf index, tree size, audit path) and (old size, new size, proof).
H = {
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 8, ["96a2", "5f08", "6b47"]),
    (5, 8, ["bc1a", "ca85", RFC_ROOTS[3]]),
    (2, 3, [RFC_ROOTS[1]]),
    (1, 5, [RFC_ROOTS[0], "5f08", "bc1a"]),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, ["96a2", "5f08", "6b47"]),
    (6, 8, ["0ebc", "ca85", RFC_ROOTS[3]]),
    (2, 5, ["5f08", "bc1a"]),
    (6, 7, ["0ebc", "b086", RFC_ROOTS[3]]),
]


def _hashes(names: list[str]) -> list[bytes]:
    return [bytes.fromhex(H.get(n, n)) for n in names]


@pytest.fixture
def leaves() -> list[bytes]:
    return [merkle.leaf_hash(d) for d in RFC_LEAVES]


def test_empty_tree_root_is_the_hash_of_nothing():
    assert merkle.root([]).hex() == hashlib.sha256(b"").hexdigest()
    assert merkle.CompactRange().root() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_rfc6962_known_answers(leaves, size):
    assert merkle.root(leaves[:size]).hex() == RFC_ROOTS[size - 1]


def test_compact_range_gives_the_same_root_after_every_append(leaves):
    tree = merkle.CompactRange()
    for size, leaf in enumerate(leaves, start=1):
        tree.append(leaf)
        assert tree.size == size
        assert tree.root().hex() == RFC_ROOTS[size - 1]
        # What the sequencer stores between batches is enough to carry on.
        tree = merkle.CompactRange(tree.size, [bytes.fromhex(h.hex()) for h in tree.hashes])


def test_compact_range_refuses_hashes_that_do_not_fit_its_size():
    with pytest.raises(ValueError, match="does not match"):
        merkle.CompactRange(3, [b"\x00" * 32])


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_published_vectors(leaves, index, size, path):
    expected = _hashes(path)
    assert merkle.inclusion_proof(leaves[:size], index) == expected
    assert merkle.verify_inclusion(
        leaf=leaves[index], index=index, size=size, proof=expected, expected_root=bytes.fromhex(RFC_ROOTS[size - 1])
    )


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_published_vectors(leaves, old, new, path):
    expected = _hashes(path)
    assert merkle.consistency_proof(leaves[:new], old) == expected
    assert merkle.verify_consistency(
        old_size=old,
        new_size=new,
        old_root=bytes.fromhex(RFC_ROOTS[old - 1]),
        new_root=bytes.fromhex(RFC_ROOTS[new - 1]),
        proof=expected,
    )


def _tree(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"entry {i}".encode()) for i in range(n)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_every_inclusion_proof_round_trips(size):
    leaves = _tree(size)
    root = merkle.root(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(leaves, index)
        assert merkle.verify_inclusion(leaf=leaves[index], index=index, size=size, proof=proof, expected_root=root)
        # ...and proves nothing about another leaf, position or root.
        other = leaves[(index + 1) % size]
        if size > 1:
            assert not merkle.verify_inclusion(leaf=other, index=index, size=size, proof=proof, expected_root=root)
        assert not merkle.verify_inclusion(
            leaf=leaves[index], index=index, size=size, proof=proof, expected_root=merkle.EMPTY_ROOT
        )


@pytest.mark.parametrize("new", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_every_consistency_proof_round_trips(new):
    leaves = _tree(new)
    new_root = merkle.root(leaves)
    for old in range(1, new + 1):
        old_root = merkle.root(leaves[:old])
        proof = merkle.consistency_proof(leaves, old)
        assert merkle.verify_consistency(
            old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof
        ), (old, new)
        if old < new:
            # A forked history (a different old tree) is not consistent with the new one.
            forked = merkle.root([merkle.leaf_hash(b"forged"), *leaves[1:old]])
            assert not merkle.verify_consistency(
                old_size=old, new_size=new, old_root=forked, new_root=new_root, proof=proof
            )


def _corrupted_inclusion(index, size, proof, root, leaf):
    """Wrong position, size, leaf or root; garbage around the path; a flipped bit."""
    yield index - 1, size, proof, root, leaf
    yield index + 1, size, proof, root, leaf
    yield index ^ 2, size, proof, root, leaf
    yield index, size * 2, proof, root, leaf
    yield index, size // 2, proof, root, leaf
    yield index, size, proof, root, merkle.leaf_hash(b"wrong")
    yield index, size, proof, merkle.EMPTY_ROOT, leaf
    yield index, size, [*proof, b""], root, leaf
    yield index, size, [*proof, root], root, leaf
    yield index, size, [b"", *proof], root, leaf
    yield index, size, [root, *proof], root, leaf
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        yield index, size, flipped, root, leaf
    if proof:
        yield index, size, proof[:-1], root, leaf


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS[1:])
def test_corrupted_inclusion_proofs_fail(leaves, index, size, path):
    root = bytes.fromhex(RFC_ROOTS[size - 1])
    for i, s, proof, r, leaf in _corrupted_inclusion(index, size, _hashes(path), root, leaves[index]):
        assert not merkle.verify_inclusion(leaf=leaf, index=i, size=s, proof=proof, expected_root=r), (i, s)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS[1:])
def test_corrupted_consistency_proofs_fail(old, new, path):
    proof = _hashes(path)
    r1, r2 = bytes.fromhex(RFC_ROOTS[old - 1]), bytes.fromhex(RFC_ROOTS[new - 1])
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, merkle.EMPTY_ROOT, r2, proof),
        (old, new, r1, merkle.EMPTY_ROOT, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for s1, s2, a, b, p in probes:
        assert not merkle.verify_consistency(old_size=s1, new_size=s2, old_root=a, new_root=b, proof=p), (s1, s2)


def test_equal_sizes_are_consistent_only_with_the_same_root_and_no_proof():
    root = bytes.fromhex(RFC_ROOTS[3])
    assert merkle.verify_consistency(old_size=4, new_size=4, old_root=root, new_root=root, proof=[])
    assert not merkle.verify_consistency(old_size=4, new_size=4, old_root=root, new_root=merkle.EMPTY_ROOT, proof=[])
    assert not merkle.verify_consistency(old_size=4, new_size=4, old_root=root, new_root=root, proof=[root])


def test_proofs_refuse_positions_outside_the_tree(leaves):
    with pytest.raises(ValueError):
        merkle.inclusion_proof(leaves, 8)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(leaves, -1)
    with pytest.raises(ValueError):
        merkle.consistency_proof(leaves, 0)
    with pytest.raises(ValueError):
        merkle.consistency_proof(leaves, 9)
