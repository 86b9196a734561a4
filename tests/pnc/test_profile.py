"""The pure certificate rules of pnc/profile.py, without a database."""
import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pnc import profile

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sub2():
    names = profile.Names("Test eMSP", "DE")
    keys = [profile.new_ca_key() for _ in range(3)]
    root = profile.ca_certificate("root", keys[0], names, NOW)
    sub1 = profile.ca_certificate("sub-ca-1", keys[1], names, NOW, issuer=root, issuer_key=keys[0],
                                  crl_url="http://x/crl", ocsp_url="http://x/ocsp")
    return profile.ca_certificate("sub-ca-2", keys[2], names, NOW, issuer=sub1, issuer_key=keys[1],
                                  crl_url="http://x/crl", ocsp_url="http://x/ocsp")


def test_sub_ca_2_lives_two_years(sub2):
    assert sub2.not_valid_after_utc - sub2.not_valid_before_utc == timedelta(days=730)


@pytest.mark.parametrize("start, end, expected", [
    (NOW - timedelta(days=30), NOW + timedelta(days=100), (NOW, NOW + timedelta(days=100))),
    (NOW + timedelta(days=10), NOW + timedelta(days=100), (NOW + timedelta(days=10), NOW + timedelta(days=100))),
    (NOW, NOW + timedelta(days=5000), (NOW, NOW + timedelta(days=730))),
])
def test_contract_validity(sub2, start, end, expected):
    assert profile.contract_validity(NOW, start, end, sub2) == expected


def test_validity_never_beyond_the_ca_and_never_inverted(sub2):
    start = NOW + timedelta(days=400)
    not_before, not_after = profile.contract_validity(NOW, start, NOW + timedelta(days=1000), sub2)
    assert not_after == sub2.not_valid_after_utc and not_before == start
    with pytest.raises(ValueError, match="after the issuing CA's validity ends"):
        profile.contract_validity(NOW, NOW + timedelta(days=800), NOW + timedelta(days=900), sub2)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_body_is_a_csr_or_a_refusal(body):
    for candidate in (body, base64.b64encode(body), b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.b64encode(body)
                      + b"\n-----END CERTIFICATE REQUEST-----\n"):
        try:
            profile.load_csr(candidate)
        except profile.RefusedCsr:
            pass


def test_check_key_rejects_unknown_profiles():
    with pytest.raises(ValueError, match="unknown key profile"):
        profile.check_key(ec.generate_private_key(ec.SECP256R1()).public_key(), "iso15118-3")


def test_cert_id_hashes_match_cryptographys_own(sub2):
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = profile.contract_certificate(key.public_key(), "DE8AA1A2B3C4D5V", profile.Names("T"), sub2,
                                        profile.new_ca_key(), not_before=NOW, not_after=NOW + timedelta(days=1),
                                        crl_url="http://x/crl", ocsp_url="http://x/ocsp")
    for algorithm in (hashes.SHA1(), hashes.SHA256(), hashes.SHA384()):
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf, sub2, algorithm).build()
        assert profile.cert_id_hashes(sub2, algorithm) == (request.issuer_name_hash, request.issuer_key_hash)


# A tenant's name is up to 200 characters (Tenant.name) of any script; X.509 names take 64.
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=20, max_value=64))
def test_any_name_fits_x509_stays_recognisable_and_is_stable(name, limit):
    shown = profile.fitted(name, limit)
    assert len(shown.encode()) <= limit
    assert shown == profile.fitted(name, limit)
    if len(name.encode()) <= limit:
        assert shown == name
    else:
        start, suffix = shown[:-8], shown[-8:]
        assert name.startswith(start) and suffix.startswith("… ") and len(suffix) == 8


def test_a_long_name_is_cut_between_whole_characters_and_keeps_two_alike_names_apart():
    accented = "Société d'Électricité " + "e\u0301" * 60  # é as e + combining acute accent
    shown = profile.fitted(accented)
    assert not shown[:-8].endswith("e") and shown[:-8].endswith("e\u0301")
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467" * 10  # one emoji sequence, ZWJ-joined, repeated
    kept = profile.fitted(family)[:-8]
    assert kept and len(kept) % 5 == 0 and family.startswith(kept)  # whole sequences only
    waves = "A" + "\U0001F44B\U0001F3FD" * 20  # waving hands with their skin tone, 8 bytes a pair
    assert (len(profile.fitted(waves)[:-8]) - 1) % 2 == 0  # 53 bytes of room would end on a bare hand
    first, second = "Stadtwerke Musterstadt " * 4 + "Nord", "Stadtwerke Musterstadt " * 4 + "Süd"
    assert profile.fitted(first) != profile.fitted(second)
    assert profile.fitted(first)[:40] == profile.fitted(second)[:40] == first[:40]


def test_the_commonname_ends_with_the_cas_level_whatever_the_name():
    names = profile.Names("Ünïcødé Lädestrøm " * 8, "AT")
    root = profile.ca_certificate("root", profile.new_ca_key(), names, NOW, generation=12)
    [cn] = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    [org] = root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert cn.value.endswith(" MO Root CA G12") and cn.value.startswith("Ünïcødé Lädestrøm")
    assert len(cn.value.encode()) <= 64 and len(org.value.encode()) <= 64 and org.value.startswith("Ünïcødé")
