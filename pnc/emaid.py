"""EMAIDs (e-mobility account identifiers, ISO 15118-1 / DIN SPEC 91286 / eMI3) and their
check digit.

An EMAID is ``<country><provider><instance><check>``: a two-letter ISO 3166-1 country
code, the eMSP's three-character provider id, a nine-character instance the eMSP assigns,
and one check character — 15 characters from ``0-9A-Z``, written with or without hyphens
(``DE-8AA-1A2B3C4D5-V`` is ``DE8AA1A2B3C4D5V``). We store and put in certificates the
form without hyphens, upper case.

The check digit is eMI3's ("Check Digit Calculation for Contract-IDs"): each character
``a`` (its index in ``0-9A-Z``) is split into a pair over Z2, ``divmod(a // 9, 2)``, and a
pair over Z3, ``divmod(a % 9, 3)``. The pair at position i (1-based) is multiplied by the
i-th power of P1 = [[0, 1], [1, 1]] (mod 2) and of P2 = [[0, 1], [1, 2]] (mod 3). The
check character is the one that makes the sum over all 15 positions zero in both; it is
unique because the powers of P1 and P2 are invertible. This finds single errors,
adjacent and jump transpositions, twin and jump-twin errors.

Pure logic: no database, no I/O, no Django.
"""
from __future__ import annotations

import re
import secrets
from functools import cache

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LENGTH_WITHOUT_CHECK = 14
INSTANCE_LENGTH = 9
_P1 = ((0, 1), (1, 1))
_P2 = ((0, 1), (1, 2))
_COUNTRY = re.compile(r"[A-Z]{2}")
_PROVIDER = re.compile(r"[A-Z0-9]{3}")
_INSTANCE = re.compile(r"[A-Z0-9]{9}")


class InvalidEmaid(ValueError):
    pass


def _times(a, b, modulus):
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(2)) % modulus for j in range(2)) for i in range(2))


@cache
def _power(matrix, exponent: int, modulus: int):
    result = ((1, 0), (0, 1))
    for _ in range(exponent):
        result = _times(result, matrix, modulus)
    return result


def _pairs(char: str) -> tuple[tuple[int, int], tuple[int, int]]:
    value = ALPHABET.index(char)
    return divmod(value // 9, 2), divmod(value % 9, 3)


def _weighted(char: str, position: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The character's (Z2 pair, Z3 pair) multiplied by P1^position and P2^position."""
    (q, r), p1, p2 = _pairs(char), _power(_P1, position, 2), _power(_P2, position, 3)
    return (tuple((q[0] * p1[0][j] + q[1] * p1[1][j]) % 2 for j in range(2)),
            tuple((r[0] * p2[0][j] + r[1] * p2[1][j]) % 3 for j in range(2)))


def _sums(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    q, r = [0, 0], [0, 0]
    for position, char in enumerate(text, start=1):
        wq, wr = _weighted(char, position)
        q = [(q[j] + wq[j]) % 2 for j in range(2)]
        r = [(r[j] + wr[j]) % 3 for j in range(2)]
    return tuple(q), tuple(r)


def normalise(text: str) -> str:
    """Upper case, hyphens removed; only ``0-9A-Z`` may remain."""
    compact = text.replace("-", "").upper()
    if not compact.isascii() or any(c not in ALPHABET for c in compact):
        raise InvalidEmaid("an EMAID has only the letters A-Z, the digits 0-9 and hyphens")
    return compact


def check_digit(first_fourteen: str) -> str:
    """The eMI3 check character of an EMAID's first 14 characters (hyphens allowed)."""
    text = normalise(first_fourteen)
    if len(text) != LENGTH_WITHOUT_CHECK:
        raise InvalidEmaid(f"the check digit is computed over {LENGTH_WITHOUT_CHECK} characters, not {len(text)}")
    q, r = _sums(text)
    for candidate in ALPHABET:
        wq, wr = _weighted(candidate, LENGTH_WITHOUT_CHECK + 1)
        if all((q[j] + wq[j]) % 2 == 0 and (r[j] + wr[j]) % 3 == 0 for j in range(2)):
            return candidate
    raise AssertionError("P1^15 and P2^15 are invertible: some character always balances the sums")


def is_valid(text: str) -> bool:
    """A well-formed 15-character EMAID whose last character is its check digit."""
    try:
        compact = normalise(text)
    except InvalidEmaid:
        return False
    return (len(compact) == LENGTH_WITHOUT_CHECK + 1 and _COUNTRY.fullmatch(compact[:2]) is not None
            and check_digit(compact[:-1]) == compact[-1])


def check_issuer(country: str, provider: str) -> None:
    """The eMSP's part of its EMAIDs: an ISO 3166-1 alpha-2 shape and a 3-character id."""
    if not _COUNTRY.fullmatch(country or ""):
        raise InvalidEmaid("the country code is two capital letters (ISO 3166-1 alpha-2), like DE")
    if not _PROVIDER.fullmatch(provider or ""):
        raise InvalidEmaid("the provider id is three capital letters or digits, like 8AA")


def compose(country: str, provider: str, instance: str) -> str:
    """The EMAID (no hyphens) with its check digit."""
    check_issuer(country, provider)
    if not _INSTANCE.fullmatch(instance):
        raise InvalidEmaid("the instance is nine capital letters or digits")
    body = country + provider + instance
    return body + check_digit(body)


def random_instance() -> str:
    """Nine random characters: 36^9 ≈ 10^14 per provider, so guessing a driver's EMAID
    is as hopeless as a collision (which the database's unique constraint still catches)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(INSTANCE_LENGTH))


def hyphenated(emaid: str) -> str:
    """``DE8AA1A2B3C4D5V`` → ``DE-8AA-1A2B3C4D5-V``, for people."""
    compact = normalise(emaid)
    return f"{compact[:2]}-{compact[2:5]}-{compact[5:14]}-{compact[14:]}"
