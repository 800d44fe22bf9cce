"""Shamir's secret sharing over GF(2^8), byte by byte (the construction of SLIP-0039 and
HashiCorp Vault's `shamir` package).

Why our own ~60 lines instead of a library: the well-kept option on PyPI,
pycryptodome's `Crypto.Protocol.SecretSharing.Shamir`, splits 16-byte secrets only and
would add a second general-purpose crypto library beside `cryptography` for this one
use; the byte-wise scheme has no length limit and is small enough to test completely
(`tests/test_shamir.py`). Table look-ups depend on secret bytes, which matters only to
an attacker timing this process during a ceremony; ceremonies run offline, by hand.

A share is `(x, y)` with `x` in 1..255 and `y` as long as the secret: byte `i` of `y` is
`p_i(x)` for a random polynomial `p_i` of degree k-1 with `p_i(0)` = byte `i` of the
secret. Any k shares give back the secret by Lagrange interpolation at 0; fewer are
consistent with every possible secret, so they reveal nothing about it.
"""

from __future__ import annotations

import secrets

# Exponent and logarithm tables of GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1, generator 3.
_EXP = [0] * 510
_LOG = [0] * 256
_value = 1
for _power in range(255):
    _EXP[_power] = _value
    _LOG[_value] = _power
    _value ^= (_value << 1) ^ (0x11B if _value & 0x80 else 0)  # multiply by 3 = x + 1
    _value &= 0xFF
for _power in range(255, 510):
    _EXP[_power] = _EXP[_power - 255]


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


def _evaluate(coefficients: list[int], x: int) -> int:
    """Horner's rule; coefficients[0] is the constant term."""
    result = 0
    for coefficient in reversed(coefficients):
        result = gf_mul(result, x) ^ coefficient
    return result


def split(secret: bytes, *, k: int, n: int) -> list[tuple[int, bytes]]:
    """Split into n shares, any k of which recover the secret; x runs 1..n.

    Raises: ValueError unless 2 <= k <= n <= 255 and the secret is not empty."""
    if not secret:
        raise ValueError("The secret is empty.")
    if not 2 <= k <= n <= 255:
        raise ValueError("Need 2 <= k <= n <= 255.")
    ys = [bytearray(len(secret)) for _ in range(n)]
    for i, byte in enumerate(secret):
        coefficients = [byte] + [secrets.randbelow(256) for _ in range(k - 1)]
        for j in range(n):
            ys[j][i] = _evaluate(coefficients, j + 1)
    return [(j + 1, bytes(ys[j])) for j in range(n)]


def combine(shares: list[tuple[int, bytes]]) -> bytes:
    """Interpolate at 0. With fewer than k shares the result is simply some other value.

    Raises: ValueError for no shares, repeated or zero x, or shares of different lengths."""
    if not shares:
        raise ValueError("No shares.")
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs) or not all(1 <= x <= 255 for x in xs):
        raise ValueError("Share numbers must be distinct and between 1 and 255.")
    length = len(shares[0][1])
    if any(len(y) != length for _, y in shares):
        raise ValueError("Shares have different lengths.")
    # Lagrange basis at 0: l_j(0) = prod_{m != j} x_m / (x_m - x_j); minus is xor in GF(2^8).
    basis = []
    for j, xj in enumerate(xs):
        numerator, denominator = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                numerator = gf_mul(numerator, xm)
                denominator = gf_mul(denominator, xm ^ xj)
        basis.append(gf_div(numerator, denominator))
    secret = bytearray(length)
    for (_, y), weight in zip(shares, basis, strict=True):
        for i in range(length):
            secret[i] ^= gf_mul(y[i], weight)
    return bytes(secret)
