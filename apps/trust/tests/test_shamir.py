"""Shamir's secret sharing over GF(256)."""

from __future__ import annotations

import itertools
import os

import pytest

from apps.trust import shamir


def test_field_arithmetic():
    for a in range(1, 256):
        assert shamir.gf_mul(a, shamir.gf_div(1, a)) == 1  # every non-zero element has an inverse
        assert shamir.gf_mul(a, 1) == a and shamir.gf_mul(a, 0) == 0
    assert shamir.gf_mul(0x57, 0x83) == 0xC1  # the worked example of FIPS 197, section 4.2
    assert shamir.gf_mul(0x57, 0x13) == 0xFE


@pytest.mark.parametrize(("k", "n"), [(2, 2), (2, 3), (3, 5), (5, 5), (4, 9)])
def test_any_k_shares_recover_the_secret(k, n):
    secret = os.urandom(32)
    shares = shamir.split(secret, k=k, n=n)
    assert [x for x, _ in shares] == list(range(1, n + 1))
    for subset in itertools.combinations(shares, k):
        assert shamir.combine(list(subset)) == secret
        assert shamir.combine(list(reversed(subset))) == secret
    assert shamir.combine(shares) == secret  # more than k is fine too


def test_k_minus_one_shares_give_a_wrong_secret():
    secret = os.urandom(32)
    shares = shamir.split(secret, k=3, n=5)
    for subset in itertools.combinations(shares, 2):
        assert shamir.combine(list(subset)) != secret


def test_k_minus_one_shares_are_consistent_with_every_secret():
    """Information-theoretic secrecy: for any candidate secret there is a sharing that
    produces exactly these k-1 shares, so they say nothing about which one is real."""
    k = 3
    secret = bytes([42])
    known = shamir.split(secret, k=k, n=5)[: k - 1]
    for candidate in range(256):
        # The polynomial through (0, candidate) and the known points: its value at x=5
        # is a possible k-th share; with it the candidate is "recovered".
        points = [(0, bytes([candidate])), *known]
        fifth = _interpolate_at(points, 5)
        assert shamir.combine([*known, (5, bytes([fifth]))]) == bytes([candidate])


def _interpolate_at(points, x):
    value = 0
    for j, (xj, yj) in enumerate(points):
        weight = 1
        for m, (xm, _) in enumerate(points):
            if m != j:
                weight = shamir.gf_mul(weight, shamir.gf_div(x ^ xm, xj ^ xm))
        value ^= shamir.gf_mul(yj[0], weight)
    return value


def test_shares_differ_between_splits():
    secret = os.urandom(32)
    assert shamir.split(secret, k=2, n=3) != shamir.split(secret, k=2, n=3)


@pytest.mark.parametrize(("k", "n"), [(1, 3), (4, 3), (2, 256), (0, 0)])
def test_split_refuses_bad_parameters(k, n):
    with pytest.raises(ValueError):
        shamir.split(b"secret", k=k, n=n)


def test_split_refuses_an_empty_secret():
    with pytest.raises(ValueError):
        shamir.split(b"", k=2, n=3)


def test_combine_refuses_bad_shares():
    shares = shamir.split(b"0123456789", k=2, n=3)
    with pytest.raises(ValueError):
        shamir.combine([])
    with pytest.raises(ValueError):
        shamir.combine([shares[0], shares[0]])
    with pytest.raises(ValueError):
        shamir.combine([shares[0], (2, b"short")])
    with pytest.raises(ValueError):
        shamir.combine([(0, shares[0][1]), shares[1]])
