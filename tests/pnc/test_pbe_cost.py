"""The key-derivation work a PKCS#12 file or an encrypted PKCS#8 key asks for is read
before any is run (pnc/pbe_cost.py), and `pnc ca import --pkcs12` refuses a file that
asks too much without deriving anything."""
import datetime
import io
import sys
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from cryptography.x509.oid import NameOID
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc5208, rfc5652, rfc7292, rfc8018

from pnc import pbe_cost, pki_files

KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(KEY.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(KEY, hashes.SHA256()))


CERTIFICATE = _certificate()


def bundle(rounds: int = 2048, legacy: bool = False) -> bytes:
    builder = PrivateFormat.PKCS12.encryption_builder().kdf_rounds(rounds)
    if legacy:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
    return pkcs12.serialize_key_and_certificates(b"k", KEY, CERTIFICATE, None, builder.build(b"pw"))


def with_mac_iterations(data: bytes, iterations: int) -> bytes:
    """The file with its MAC's iteration count changed (the MAC no longer verifies: an
    attacker's file need not, its cost is paid before that is found)."""
    pfx, _ = decoder.decode(data, asn1Spec=rfc7292.PFX())
    pfx["macData"]["iterations"] = iterations
    return encoder.encode(pfx)


def with_encrypted_part_iterations(data: bytes, iterations: int) -> bytes:
    """The file with its encrypted part (the certificates, PBES2) asking `iterations`."""
    pfx, _ = decoder.decode(data, asn1Spec=rfc7292.PFX())
    octets, _ = decoder.decode(bytes(pfx["authSafe"]["content"]), asn1Spec=univ.OctetString())
    parts, _ = decoder.decode(bytes(octets), asn1Spec=rfc7292.AuthenticatedSafe())
    for part in parts:
        if part["contentType"] == rfc5652.id_encryptedData:
            encrypted, _ = decoder.decode(bytes(part["content"]), asn1Spec=rfc5652.EncryptedData())
            algorithm = encrypted["encryptedContentInfo"]["contentEncryptionAlgorithm"]
            pbes2, _ = decoder.decode(bytes(algorithm["parameters"]), asn1Spec=rfc8018.PBES2_params())
            kdf, _ = decoder.decode(bytes(pbes2["keyDerivationFunc"]["parameters"]),
                                    asn1Spec=rfc8018.PBKDF2_params())
            kdf["iterationCount"] = iterations
            pbes2["keyDerivationFunc"]["parameters"] = encoder.encode(kdf)
            algorithm["parameters"] = encoder.encode(pbes2)
            part["content"] = encoder.encode(encrypted)
    pfx["authSafe"]["content"] = encoder.encode(univ.OctetString(encoder.encode(parts)))
    return encoder.encode(pfx)


def test_a_pkcs12_file_as_tools_write_it_is_within_bounds_and_counted_whole():
    work = pbe_cost.pkcs12(bundle(rounds=5000))
    # the MAC (cryptography writes 2,048 for it) + the certificates' part + the key bag
    assert work.iterations == 2048 + 5000 + 5000 and work.bounded


def test_pkcs12s_own_legacy_schemes_are_read_too():
    work = pbe_cost.pkcs12(bundle(rounds=3000, legacy=True))
    assert work.iterations == 2048 + 3000 + 3000 and work.bounded


def test_the_sum_not_each_part_is_bounded():
    just_under = pbe_cost.MAX_PBKDF2_ITERATIONS // 2
    assert not pbe_cost.pkcs12(with_mac_iterations(bundle(rounds=just_under), 2048)).bounded


@pytest.mark.parametrize("costly", [
    lambda: with_mac_iterations(bundle(), 50_000_000),
    lambda: with_encrypted_part_iterations(bundle(), 50_000_000),
], ids=["MAC", "encrypted part"])
def test_the_import_refuses_a_costly_pkcs12_file_before_deriving_anything(costly, tmp_path, monkeypatch):
    path = tmp_path / "costly.p12"
    path.write_bytes(costly())

    def never(*args, **kwargs):
        raise AssertionError("the file was decrypted")

    monkeypatch.setattr(pkcs12, "load_key_and_certificates", never)
    started = time.monotonic()
    with pytest.raises(pki_files.Unreadable, match="the PKCS#12 file's password protection asks for more work"):
        pki_files.read(None, str(path), b"pw")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("damaged", [
    b"not DER at all",
    bundle()[:-7],  # cut short
    bundle() + b"\0",  # something after it
    with_mac_iterations(bundle(), -1),  # a negative count would lower the total
], ids=["garbage", "truncated", "trailing", "negative"])
def test_a_damaged_pkcs12_file_is_refused_as_damaged(damaged, tmp_path):
    with pytest.raises(ValueError):
        pbe_cost.pkcs12(damaged)
    path = tmp_path / "damaged.p12"
    path.write_bytes(damaged)
    with pytest.raises(pki_files.Unreadable, match="damaged.p12: the PKCS#12 file does not load"):
        pki_files.read(None, str(path), b"pw")


def encrypted_key_der() -> bytes:
    return KEY.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"pw"))


def test_an_encrypted_key_as_tools_write_it_is_within_bounds():
    work = pbe_cost.encrypted_key(encrypted_key_der())
    assert work is not None and 0 < work.iterations <= pbe_cost.MAX_PBKDF2_ITERATIONS and work.bounded


def test_an_unknown_key_derivation_cannot_be_bounded():
    info, _ = decoder.decode(encrypted_key_der(), asn1Spec=rfc5208.EncryptedPrivateKeyInfo())
    pbes2, _ = decoder.decode(bytes(info["encryptionAlgorithm"]["parameters"]), asn1Spec=rfc8018.PBES2_params())
    pbes2["keyDerivationFunc"]["algorithm"] = univ.ObjectIdentifier("1.3.6.1.4.1.99999.1")
    info["encryptionAlgorithm"]["parameters"] = encoder.encode(pbes2)
    assert pbe_cost.encrypted_key(encoder.encode(info)) is None


def test_the_cli_says_what_to_do_with_a_costly_file(emsp, tmp_path, monkeypatch):
    from django.core.management import CommandError, call_command

    path = tmp_path / "costly.p12"
    path.write_bytes(with_mac_iterations(bundle(), 50_000_000))
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    with pytest.raises(CommandError, match="re-encrypt it with your tool's defaults"):
        call_command("pnc", "ca", "import", "emsp", "--pkcs12", str(path), "--password-stdin")


def with_mac_algorithm(data: bytes, oid: str, parameters: bytes | None = None) -> bytes:
    pfx, _ = decoder.decode(data, asn1Spec=rfc7292.PFX())
    algorithm = pfx["macData"]["mac"]["digestAlgorithm"]
    algorithm["algorithm"] = univ.ObjectIdentifier(oid)
    if parameters is not None:
        algorithm["parameters"] = parameters
    pfx["macData"]["iterations"] = 1
    return encoder.encode(pfx)


def pbmac1_parameters(iterations: int) -> bytes:
    """RFC 9579's PBMAC1 parameters: a PBKDF2 of `iterations`, then HMAC-SHA-256."""
    from pyasn1_modules import rfc5280

    kdf_params = rfc8018.PBKDF2_params()
    kdf_params["salt"]["specified"] = univ.OctetString(b"s" * 16)
    kdf_params["iterationCount"] = iterations
    kdf_params["keyLength"] = 32
    kdf = rfc5280.AlgorithmIdentifier()
    kdf["algorithm"], kdf["parameters"] = rfc8018.id_PBKDF2, encoder.encode(kdf_params)
    mac = rfc5280.AlgorithmIdentifier()
    mac["algorithm"], mac["parameters"] = rfc8018.id_hmacWithSHA256, univ.Null("")
    params = univ.Sequence()
    params.setComponentByPosition(0, kdf)
    params.setComponentByPosition(1, mac)
    return encoder.encode(params)


def test_a_pbmac1_mac_is_counted_by_its_own_key_derivation():
    """RFC 9579: the MAC's iterations field says 1, its PBKDF2 says how much work it is
    (review: 2 million read as 1 took 0.5 s of OpenSSL, 2^31 would take minutes)."""
    work = pbe_cost.pkcs12(with_mac_algorithm(bundle(), "1.2.840.113549.1.5.14", pbmac1_parameters(2_000_000)))
    assert work.iterations >= 2_000_000 and not work.bounded


def test_a_mac_algorithm_we_do_not_know_cannot_be_bounded():
    assert pbe_cost.pkcs12(with_mac_algorithm(bundle(), "1.3.6.1.4.1.99999.2")) is None


def test_more_parts_than_a_ca_export_has_are_refused_as_damaged():
    pfx, _ = decoder.decode(bundle(), asn1Spec=rfc7292.PFX())
    octets, _ = decoder.decode(bytes(pfx["authSafe"]["content"]), asn1Spec=univ.OctetString())
    parts, _ = decoder.decode(bytes(octets), asn1Spec=rfc7292.AuthenticatedSafe())
    many = rfc7292.AuthenticatedSafe()
    for k in range(pbe_cost.MAX_PARTS + 1):
        many[k] = parts[len(parts) - 1]
    pfx["authSafe"]["content"] = encoder.encode(univ.OctetString(encoder.encode(many)))
    with pytest.raises(ValueError, match="parts"):
        pbe_cost.pkcs12(encoder.encode(pfx))


def test_a_pkcs12_file_larger_than_a_ca_export_is_not_read(tmp_path):
    path = tmp_path / "big.p12"
    path.write_bytes(b"\0" * (pki_files.MAX_PKCS12_BYTES + 1))
    with pytest.raises(pki_files.Unreadable, match="larger than"):
        pki_files.read(None, str(path), b"pw")


def test_decrypting_is_stopped_at_its_cpu_limit(tmp_path, monkeypatch):
    """What the file hides inside its encrypted parts is only known once decrypted: the
    decryption runs in a child process that the kernel stops at its CPU limit."""
    from pnc import pkcs12_load

    def endless(*args, **kwargs):  # as OpenSSL deriving a hidden key's billions of iterations
        while True:
            pass

    monkeypatch.setattr(pkcs12_load, "CPU_SECONDS", 1)
    monkeypatch.setattr(pkcs12, "load_key_and_certificates", endless)  # the forked child has it too
    path = tmp_path / "hidden.p12"
    path.write_bytes(bundle())
    started = time.monotonic()
    with pytest.raises(pki_files.Unreadable, match="took more than 1 s of CPU"):
        pki_files.read(None, str(path), b"pw")
    assert time.monotonic() - started < 10


def test_a_file_within_bounds_comes_back_from_the_child_whole(tmp_path):
    path = tmp_path / "ok.p12"
    path.write_bytes(bundle())
    certificates, keys = pki_files.read(None, str(path), b"pw")
    assert certificates == [CERTIFICATE] and keys[0].public_key() == KEY.public_key()
    with pytest.raises(pki_files.Unreadable, match="password is wrong"):
        pki_files.read(None, str(path), b"not it")
