"""The portal's MO CA page and its operations (pnc/authority_pages.py): administrators
create, import, roll over, activate and retire; viewers and operators see the state and
no button, and are refused (403); another tenant's members get 404; a bad upload is a
form error; the destructive operations ask first; no private key reaches a page, the
audit trail or a log."""
import base64
import json
import logging
import time
from html import escape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as BrowserClient

from csms.models import AuditEvent
from pnc import authorities, revocation
from pnc.models import CertificateAuthority, Contract
from tenants.models import Membership, Role
from tests.factories import make_tenant
from tests.pnc import test_ca_import
from tests.pnc.test_ca_import import damaged, pem_cert, pem_key
from tests.portal.people import PASSWORD, signed_in
from tests.portal.test_oauth_pages import contract_with_certificate

pytestmark = pytest.mark.django_db
existing = test_ca_import.existing  # an existing MO PKI made with plain cryptography
PAGE = "/t/emsp/pnc/authorities/"
CONFIRM = "Yes, go ahead"
BUTTONS = ("Roll over…", "Activate…", "Retire…", "Create the MO PKI", 'name="certificates"')


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def emsp_tenant(slug: str, provider: str, **fields):
    return make_tenant(slug, name=fields.pop("name", f"{slug.title()} Mobility"), is_emsp=True,
                       operates_charging_stations=False, emsp_country_code="DE", emsp_provider_id=provider, **fields)


@pytest.fixture
def emsp():
    return emsp_tenant("emsp", "8AA")


@pytest.fixture
def other():
    """Another eMSP with a PKI of its own."""
    tenant = emsp_tenant("other", "8AB")
    authorities.initialise(tenant, "setup")
    return tenant


@pytest.fixture
def admin(emsp):
    return signed_in("admin", (emsp, Role.ADMIN))


def ours(tenant):
    return list(CertificateAuthority.objects.for_tenant(tenant).order_by("created_at", "id"))


def state_of(tenant):
    """What an action would change: the CAs, which issues, which keys are held."""
    return [(row.key_id, row.issuing, bool(row.private_key_sealed), row.retired_at) for row in ours(tenant)]


def text(response) -> str:
    return response.content.decode()


def followed(client, response) -> str:
    assert response.status_code == 302, (response.status_code, text(response)[:2000])
    return text(client.get(response["Location"]))


def actions(tenant) -> list[tuple[str, dict]]:
    rows = ours(tenant) or [None]
    key_id = rows[0].key_id if rows[0] else "0" * 40
    return [("/t/emsp/pnc/authorities/init", {}),
            ("/t/emsp/pnc/authorities/rollover", {"level": "sub-ca-2", "confirmed": "yes"}),
            (f"/t/emsp/pnc/authorities/{key_id}/activate", {"confirmed": "yes"}),
            (f"/t/emsp/pnc/authorities/{key_id}/retire", {"confirmed": "yes"}),
            ("/t/emsp/pnc/authorities/import", {"certificates": SimpleUploadedFile("c.pem", b"x")})]


# --- an administrator's operations ----------------------------------------------------------

def test_an_administrator_creates_the_pki_and_the_page_shows_it(emsp, admin):
    empty = text(admin.get(PAGE))
    assert "no MO PKI yet" in empty and "Create the MO PKI" in empty and 'name="certificates"' in empty
    assert 'class="primary">Create the MO PKI' in empty
    page = followed(admin, admin.post("/t/emsp/pnc/authorities/init"))
    root, sub1, sub2 = ours(emsp)
    assert "The MO PKI is created" in page and page.count('data-testid="ca-card"') == 3
    assert all(row.subject in page and row.key_id in page for row in (root, sub1, sub2))
    assert page.count("<strong>issues</strong>") == 1 and sub2.issuing
    assert "Create the MO PKI" not in page and "Roll over…" in page
    event = AuditEvent.objects.get(action="ca.initialised")
    assert event.actor == "admin" and all(row.key_id in event.detail[row.level] for row in (root, sub1, sub2))
    again = followed(admin, admin.post("/t/emsp/pnc/authorities/init"))
    assert "Not created: emsp already has an MO PKI" in again and len(ours(emsp)) == 3


def test_a_rollover_asks_first_then_the_new_sub_ca_2_issues(emsp, admin):
    authorities.initialise(emsp, "setup")
    before = state_of(emsp)
    asked = admin.post("/t/emsp/pnc/authorities/rollover", {"level": "sub-ca-2"})
    assert asked.status_code == 200 and CONFIRM in text(asked)
    assert "certificates issued under it still validate" in text(asked)
    assert state_of(emsp) == before  # asking changed nothing
    page = followed(admin, admin.post("/t/emsp/pnc/authorities/rollover", {"level": "sub-ca-2", "confirmed": "yes"}))
    old_sub2, new_sub2 = [row for row in ours(emsp) if row.level == "sub-ca-2"]
    assert new_sub2.issuing and not old_sub2.issuing and "MO Sub-CA 2 G2" in new_sub2.subject
    assert f"{new_sub2.subject} issues contract certificates now" in page
    assert page.count('data-testid="ca-card"') == 4 and page.count("<strong>issues</strong>") == 1
    event = AuditEvent.objects.get(action="ca.rolled_over")
    assert (event.actor, event.outcome, event.detail["replaces"]) == ("admin", "issuing", old_sub2.key_id)


def test_a_root_rollover_says_relying_parties_refuse_new_certificates_until_they_have_the_root(emsp, admin):
    authorities.initialise(emsp, "setup")
    asked = text(admin.post("/t/emsp/pnc/authorities/rollover", {"level": "root"}))
    assert "refuse the new certificates until they install it" in asked
    assert 'name="level" value="root"' in asked  # the confirmation carries the form back
    staged = text(admin.post("/t/emsp/pnc/authorities/rollover", {"level": "root", "staged": "yes"}))
    assert "goes on issuing until you activate" in staged and "Give relying parties the new root" in staged
    assert "whole hierarchy, root included, staged?" in staged and len(ours(emsp)) == 3
    bogus = followed(admin, admin.post("/t/emsp/pnc/authorities/rollover", {"level": "sub-ca-3", "confirmed": "yes"}))
    assert "Not rolled over: the level must be one of root, sub-ca-1, sub-ca-2" in bogus and len(ours(emsp)) == 3


def test_a_staged_root_rollover_is_activated_and_the_old_hierarchy_retired_from_the_page(emsp, admin):
    authorities.initialise(emsp, "setup")
    old_root = ours(emsp)[0]
    driver = Membership.objects.create(user=signed_in_user("driver"), tenant=emsp, role=Role.DRIVER).user
    contract = contract_with_certificate(emsp, driver, "1A2B3C4D5")
    page = followed(admin, admin.post("/t/emsp/pnc/authorities/rollover",
                                      {"level": "root", "staged": "yes", "confirmed": "yes"}))
    new_sub2 = ours(emsp)[-1]
    assert "is staged" in page and "<strong>staged</strong>" in page and page.count("Activate…") == 1
    assert not new_sub2.issuing and page.count('data-testid="ca-card"') == 6

    activate = f"/t/emsp/pnc/authorities/{new_sub2.key_id}/activate"
    asked = admin.post(activate)
    assert CONFIRM in text(asked) and "do not trust its root yet refuse" in text(asked)
    assert not CertificateAuthority.objects.get(pk=new_sub2.pk).issuing
    page = followed(admin, admin.post(activate, {"confirmed": "yes"}))
    assert CertificateAuthority.objects.get(pk=new_sub2.pk).issuing and "Activate…" not in page
    assert AuditEvent.objects.get(action="ca.activated").actor == "admin"
    assert page.count("Retire…") == 3  # the old hierarchy: nothing of it issues now

    retire = f"/t/emsp/pnc/authorities/{old_root.key_id}/retire"
    before = state_of(emsp)
    asked = text(admin.post(retire))
    assert CONFIRM in asked and "the 2 CA(s) below it" in asked and "erased for good" in asked
    assert state_of(emsp) == before  # asking changed nothing
    secrets = held_key_material(emsp)  # before retirement erases the old hierarchy's keys
    refused = followed(admin, admin.post(retire, {"confirmed": "yes"}))
    assert "Not retired: 1 contract certificate(s) it signed are still valid" in refused
    assert CertificateAuthority.objects.get(pk=old_root.pk).private_key_sealed
    revocation.revoke_contract(Contract.objects.get(pk=contract.pk), "tester")
    page = followed(admin, admin.post(retire, {"confirmed": "yes"}))
    assert "Retired, keys erased" in page and page.count("erased when it was retired") == 3
    assert page.count("(its final CRL)") == 3 and "Retire…" not in page
    assert [e.actor for e in AuditEvent.objects.filter(action="ca.retired")] == ["admin"] * 3
    audit = json.dumps([e.detail for e in AuditEvent.objects.all()])
    assert_nowhere(secrets, page, refused, asked, audit, text(admin.get(PAGE)))


def held_key_material(tenant) -> list[str]:
    """Every private key the tenant's CAs hold, in the PEM lines that would betray it."""
    return [line for row in ours(tenant) if row.private_key_sealed
            for line in key_material(authorities.open_authority(row).private_key)]


def signed_in_user(username):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username, password=PASSWORD)


# --- importing --------------------------------------------------------------------------

def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/x-pem-file")


def key_material(key, *uploaded: bytes) -> list[str]:
    """Pieces that would betray the key: 40 base64 characters of any line of its plain
    PEM, or of the PEM files it was uploaded in (encrypted ones included)."""
    return [line[:40] for form in (pem_key(key), *uploaded)
            for line in form.decode().splitlines() if line and not line.startswith("-----")
            and not line.startswith("Proc-Type") and not line.startswith("DEK-Info")]


def assert_nowhere(secrets: list[str], *texts: str):
    for body in texts:
        assert "PRIVATE KEY" not in body
        assert not any(secret in body for secret in secrets)


def test_an_administrator_imports_an_existing_pki_from_pem_files(emsp, admin, existing, caplog):
    (root, sub1, sub2), keys = existing
    encrypted = pem_key(keys[2], b"pw-for-the-keys")
    caplog.set_level(logging.DEBUG)
    response = admin.post("/t/emsp/pnc/authorities/import", {
        "certificates": [upload("sub1.pem", pem_cert(sub1)), upload("root-and-sub2.pem", pem_cert(sub2, root))],
        "keys": upload("sub2-key.pem", encrypted), "password": "pw-for-the-keys"})
    page = followed(admin, response)
    assert "The MO PKI is imported" in page and "Keys sealed here: MO Sub-CA 2." in page
    rows = ours(emsp)
    assert [(r.level, r.issuing, bool(r.private_key_sealed)) for r in rows] == [
        ("root", False, False), ("sub-ca-1", False, False), ("sub-ca-2", True, True)]
    assert "CN=Elsewhere MO Sub-CA 2" in page and page.count("(held elsewhere)") == 2
    event = AuditEvent.objects.get(action="ca.imported")
    assert event.actor == "admin" and [event.detail[level].endswith(", key held elsewhere")
                                       for level in ("root", "sub-ca-1", "sub-ca-2")] == [True, True, False]
    audit = json.dumps([e.detail for e in AuditEvent.objects.all()])
    assert_nowhere(key_material(keys[2], encrypted) + ["pw-for-the-keys"], page, text(response), audit, caplog.text)
    # Sub-CA 1's key stayed with the old PKI: a rollover that needs it is refused in plain words.
    refused = followed(admin, admin.post("/t/emsp/pnc/authorities/rollover", {"level": "sub-ca-1", "confirmed": "yes"}))
    assert "Not rolled over: the private key of emsp MO Root CA" in refused and len(ours(emsp)) == 3
    assert "Not imported: emsp already has an MO PKI" in text(admin.post("/t/emsp/pnc/authorities/import", {
        "certificates": upload("c.pem", pem_cert(root, sub1, sub2)), "keys": upload("k.pem", pem_key(keys[2]))}))


@pytest.mark.parametrize("files, password, message", [
    ({}, "", "choose the file with the root, Sub-CA 1 and Sub-CA 2 certificates"),
    ({"certificates": [("notes.txt", b"hello")]}, "", "notes.txt: no PEM certificate or private key in it"),
    ({"certificates": [("chain.pem", "damaged")]}, "", "chain.pem: a certificate in it does not parse"),
    ({"certificates": [("chain.pem", "chain")], "keys": [("k.pem", "encrypted")]}, "a-wrong-password-7x",
     "k.pem: a private key does not load (wrong or missing password?)"),
    ({"certificates": [("chain.pem", "chain")], "keys": [("k.pem", "encrypted")]}, "",
     "k.pem: a private key does not load"),
    ({"certificates": [("two.pem", "two")], "keys": [("k.pem", "key")]}, "", "give exactly three CA certificates"),
    ({"certificates": [("chain.pem", "chain")]}, "", "Sub-CA 2's private key is needed"),
    ({"certificates": [("chain.pem", "chain")], "keys": [("k.pem", "stranger")]}, "",
     "a private key given belongs to none of the certificates"),
])
def test_a_bad_upload_is_a_form_error_and_no_key_comes_back(emsp, admin, existing, caplog, files, password, message):
    from cryptography.hazmat.primitives.asymmetric import ec

    (root, sub1, sub2), keys = existing
    stranger = ec.generate_private_key(ec.SECP256R1())
    contents = {"damaged": damaged(root) + pem_cert(sub1, sub2), "chain": pem_cert(root, sub1, sub2),
                "two": pem_cert(root, sub1), "key": pem_key(keys[2]),
                "encrypted": pem_key(keys[2], b"pw-for-the-keys"), "stranger": pem_key(stranger)}
    form = {field: [upload(name, contents.get(data, data)) for name, data in named]
            for field, named in files.items()}
    caplog.set_level(logging.DEBUG)
    response = admin.post("/t/emsp/pnc/authorities/import", {**form, "password": password})
    page = text(response)
    assert response.status_code == 400 and escape(message) in page and 'role="alert"' in page
    assert 'name="certificates"' in page and 'aria-describedby="import-error"' in page  # the form, to try again
    assert not ours(emsp) and not AuditEvent.objects.exists()
    secrets = key_material(keys[2], contents["encrypted"]) + key_material(stranger)
    assert_nowhere(secrets + ([password] if password else []), page, caplog.text)


def test_an_upload_over_the_bound_is_refused_before_it_is_read(emsp, admin, existing, monkeypatch):
    from django.http import multipartparser

    def unread(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", unread)
    (root, sub1, sub2), keys = existing
    padding = b"# " + b"x" * 70_000 + b"\n"
    response = admin.post("/t/emsp/pnc/authorities/import", {
        "certificates": upload("chain.pem", padding + pem_cert(root, sub1, sub2)), "keys": upload("k.pem", pem_key(keys[2]))})
    assert response.status_code == 413 and "the files may be at most 64 KiB together" in text(response)
    assert not ours(emsp)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    length = bytes([size]) if size < 128 else bytes([0x81]) + bytes([size]) if size < 256 \
        else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + content


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


_OID = {"pbes2": "2a864886f70d01050d", "pbkdf2": "2a864886f70d01050c", "scrypt": "2b06010401da47040b",
        "hmac-sha256": "2a864886f70d0209", "aes-256-cbc": "60864801650304012a"}


def encrypted_key(kdf: str, *params: int) -> bytes:
    """An ENCRYPTED PRIVATE KEY (PKCS#8, PBES2, AES-256-CBC) whose key derivation asks for
    `params` (PBKDF2: iterations; scrypt: N, r, p); the ciphertext is noise, as an
    attacker's would be: what it costs is the derivation run before it is found wrong."""
    oid = lambda name: _der(0x06, bytes.fromhex(_OID[name]))  # noqa: E731
    salt = _der(0x04, b"saltsalt")
    if kdf == "pbkdf2":
        kdf_params = _der(0x30, salt + _int(params[0]) + _der(0x30, oid("hmac-sha256") + b"\x05\x00"))
    else:
        kdf_params = _der(0x30, salt + b"".join(_int(v) for v in params))
    scheme = _der(0x30, _der(0x30, oid(kdf) + kdf_params) + _der(0x30, oid("aes-256-cbc") + _der(0x04, b"\0" * 16)))
    der = _der(0x30, _der(0x30, oid("pbes2") + scheme) + _der(0x04, b"\x17" * 48))
    body = base64.encodebytes(der)
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + body + b"-----END ENCRYPTED PRIVATE KEY-----\n"


COSTLY = "a private key's password protection asks for more work than this import does"


@pytest.mark.parametrize("kdf, params, message", [
    # ~5 s of PBKDF2 here before the fix, on the thread that serves every tenant's pages
    ("pbkdf2", (20_000_000,), COSTLY),
    ("scrypt", (1 << 20, 8, 1), COSTLY),  # 1 GiB of memory
    ("scrypt", (16384, 8, 0x7FFF), COSTLY),  # 16 MiB, 32,767 times over: a quarter of an hour
    ("scrypt", (32767, 8, 1), "a private key does not load"),  # N not a power of 2: OpenSSL's InternalError, a 500
])
def test_a_key_asking_for_a_costly_derivation_is_refused_before_it_is_derived(emsp, admin, existing, kdf,
                                                                             params, message):
    (root, sub1, sub2), keys = existing
    started = time.monotonic()
    response = admin.post("/t/emsp/pnc/authorities/import", {
        "certificates": upload("chain.pem", pem_cert(root, sub1, sub2)),
        "keys": upload("k.pem", encrypted_key(kdf, *params)), "password": "pw"})
    assert response.status_code == 400 and escape(f"k.pem: {message}") in text(response)
    assert time.monotonic() - started < 2 and not ours(emsp)


def test_more_private_keys_than_a_hierarchy_has_are_refused_before_any_is_read(emsp, admin, existing, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    def unread(*args, **kwargs):
        raise AssertionError("a key was decrypted")

    (root, sub1, sub2), keys = existing
    monkeypatch.setattr(serialization, "load_pem_private_key", unread)
    response = admin.post("/t/emsp/pnc/authorities/import", {
        "certificates": upload("chain.pem", pem_cert(root, sub1, sub2)),
        "keys": upload("k.pem", b"".join(pem_key(k, b"pw") for k in (*keys, keys[0])))})
    assert response.status_code == 400 and "4 private keys given: a hierarchy has at most 3" in text(response)


def test_a_length_that_is_not_a_number_is_a_form_error_not_a_500(emsp, admin, existing):
    (root, sub1, sub2), keys = existing
    response = admin.post("/t/emsp/pnc/authorities/import", {"certificates": upload("c.pem", pem_cert(root))},
                          CONTENT_LENGTH="lots")
    assert response.status_code == 400 and "Not imported" in text(response) and not ours(emsp)


def test_importing_needs_the_csrf_token_like_every_form(emsp, existing):
    """The import view reads the body's length before CSRF does (csrf_exempt, then
    csrf_protect inside): the token is still required."""
    (root, sub1, sub2), keys = existing
    Membership.objects.create(user=signed_in_user("strict-admin"), tenant=emsp, role=Role.ADMIN)
    strict = BrowserClient(enforce_csrf_checks=True)
    assert strict.login(username="strict-admin", password=PASSWORD)
    form = {"certificates": upload("c.pem", pem_cert(root, sub1, sub2)), "keys": upload("k.pem", pem_key(keys[2]))}
    assert strict.post("/t/emsp/pnc/authorities/import", form).status_code == 403
    assert strict.post("/t/emsp/pnc/authorities/init").status_code == 403
    assert not ours(emsp)


# --- who may do what --------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
@pytest.mark.parametrize("with_pki", [False, True])
def test_viewers_and_operators_see_the_state_but_no_button_and_are_refused(emsp, role, with_pki):
    if with_pki:
        authorities.initialise(emsp, "setup")
        authorities.rollover(emsp, "root", "setup", staged=True)  # so that Activate… and Retire… would show
    client = signed_in("member", (emsp, role))
    page = text(client.get(PAGE))
    assert ("MO Root CA G2" in page) if with_pki else ("An administrator of the tenant can create" in page)
    assert not any(button in page for button in BUTTONS)
    before = state_of(emsp)
    for url, form in actions(emsp):
        assert client.post(url, form).status_code == 403, url
    assert state_of(emsp) == before and not AuditEvent.objects.filter(action__startswith="ca.", actor="member")


def test_a_member_of_another_tenant_gets_404_for_the_page_and_every_action(emsp, other):
    authorities.initialise(emsp, "setup")
    stranger = signed_in("stranger", (other, Role.ADMIN))
    before = state_of(emsp)
    assert stranger.get(PAGE).status_code == 404
    for url, form in actions(emsp):
        assert stranger.post(url, form).status_code == 404, url
    assert state_of(emsp) == before


def test_another_tenants_ca_is_404_under_ones_own_tenant(emsp, other, admin):
    authorities.initialise(emsp, "setup")
    authorities.rollover(other, "sub-ca-2", "setup", staged=True)
    theirs = state_of(other)
    their_old, their_staged = ours(other)[2], ours(other)[3]
    for url in (f"/t/emsp/pnc/authorities/{their_staged.key_id}/activate",
                f"/t/emsp/pnc/authorities/{their_old.key_id}/retire"):
        assert admin.post(url, {"confirmed": "yes"}).status_code == 404, url
        assert admin.post(url).status_code == 404, url  # not even the confirmation page
    assert state_of(other) == theirs


def test_a_non_emsp_tenant_has_no_ca_page_or_operations(db):
    cso = make_tenant("emsp", name="Not an eMSP")  # the same address, for a charging-station operator
    client = signed_in("admin", (cso, Role.ADMIN))
    assert client.get(PAGE).status_code == 404
    for url, form in actions(cso):
        assert client.post(url, form).status_code == 404, url
    assert not ours(cso)


def test_the_page_names_a_long_non_ascii_tenant_and_its_cas_fit_x509(admin, emsp):
    emsp.name = "Ladesäulen- und Elektromobilitätsgesellschaft Österreich–Ελλάδα–Česká republika " * 2
    emsp.save()
    page = followed(admin, admin.post("/t/emsp/pnc/authorities/init"))
    for row in ours(emsp):
        assert row.subject in page and "Ladesäulen- und Elektromobilitätsgesellschaft" in row.subject
        for attribute in authorities.open_authority(row).certificate.subject:
            assert len(attribute.value.encode()) <= 64


def test_a_staged_hierarchy_not_wanted_is_retired_and_issuing_stays_where_it_was(emsp, admin):
    authorities.initialise(emsp, "setup")
    issuing = ours(emsp)[2]
    authorities.rollover(emsp, "root", "setup", staged=True)
    staged_root = ours(emsp)[3]
    page = followed(admin, admin.post(f"/t/emsp/pnc/authorities/{staged_root.key_id}/retire", {"confirmed": "yes"}))
    assert "Retired, keys erased" in page and "Activate…" not in page and page.count("erased when it was retired") == 3
    assert CertificateAuthority.objects.get(issuing=True, tenant=emsp).pk == issuing.pk


@pytest.mark.parametrize("common_name, found", [
    ("Sub-CA 2\u202e2 AC-buS", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Sub-CA 2\nImported by the platform operator", "U+000A"),
    ("Sub\u200bCA 2", "U+200B ZERO WIDTH SPACE"),
])
def test_a_ca_whose_subject_would_make_the_pages_lie_is_not_imported(emsp, admin, common_name, found):
    """The subjects of imported CAs are shown on the CA page, in the audit log and its CSV,
    as typed labels are: the same rule (lib/labels.py) applies to them."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.pnc.test_ca_import import ca

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = ca("Elsewhere MO Root", keys[0], pathlen=2)
    sub1 = ca("Elsewhere MO Sub-CA 1", keys[1], root, keys[0], pathlen=1)
    sub2 = ca(common_name, keys[2], sub1, keys[1], pathlen=0, days=700)
    response = admin.post("/t/emsp/pnc/authorities/import", {
        "certificates": upload("chain.pem", pem_cert(root, sub1, sub2)), "keys": upload("k.pem", pem_key(keys[2]))})
    page = text(response)
    assert response.status_code == 400 and "Not imported: the Sub-CA 2&#x27;s subject: no control" in page
    assert found in page and common_name not in page
    assert not ours(emsp) and not AuditEvent.objects.filter(action="ca.imported").exists()
