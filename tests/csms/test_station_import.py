"""`manage.py station import`: a fleet moving from another CSMS, keeping its stations' keys."""
import io
import json
import secrets

import pytest
import websockets
from django.core.management import CommandError, call_command

from csms import credentials
from csms.auth.keys import verify_key
from csms.models import AuditEvent, KeyOrigin, Station, StationCredential
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket

pytestmark = pytest.mark.django_db

MASTER = bytes.fromhex("ab" * 20)


def write_csv(tmp_path, text, name="stations.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def import_(*args) -> tuple[str, str]:
    """Run `station import acme ...`; what it printed on stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("station", "import", "acme", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def creds():
    return {c.station.identity: c for c in StationCredential.objects.select_related("station")}


def test_key_column_imports_each_station_with_its_own_key_as_an_operator_key(tmp_path):
    make_tenant("acme")
    k1, k2 = secrets.token_bytes(20), secrets.token_bytes(20)
    path = write_csv(tmp_path, f"identity,protocols,key\nCP-1,ocpp1.6,{k1.hex()}\nCP-2,,{k2.hex().upper()}\n")
    out, err = import_(path, "--json")
    assert json.loads(out) == {"imported": 2, "with_key": 2, "onboarding": 0, "skipped": 0}
    found = creds()
    for identity, key in (("CP-1", k1), ("CP-2", k2)):
        cred = found[identity]
        assert cred.current_origin == KeyOrigin.INSTALLED and not cred.needs_unique_key
        assert cred.current_hash.startswith("argon2$argon2id$")  # chosen elsewhere: argon2
        assert verify_key(key, cred.current_hash)
        assert cred.station.effective_registration == "Accepted"
    assert not verify_key(k1, found["CP-2"].current_hash)
    assert found["CP-1"].station.allowed_protocols == ["ocpp1.6"]
    for key in (k1, k2):
        assert key.hex() not in (out + err).lower()
    assert "2/2" in err  # the progress bar, on stderr


def test_import_makes_the_rows_register_station_makes(tmp_path):
    """One source of truth: `credentials.registration_rows` builds both."""
    tenant = make_tenant("acme")
    one = credentials.register_station(tenant, "BY-HAND", AL1000_KEY, KeyOrigin.INSTALLED, actor="cli",
                                       allowed_protocols=["ocpp1.6"])
    import_(write_csv(tmp_path, f"identity,protocols,key\nIMPORTED,ocpp1.6,{AL1000_KEY.hex()}\n"))
    rows = {s.identity: s for s in Station.objects.select_related("credential")}
    skip = {"id", "identity", "created_at", "station", "current_hash", "current_since", "current_digest",
            "updated_at"}

    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields
                if f.name not in skip and f.attname not in {"station_id"}}

    assert fields(rows["IMPORTED"]) == fields(rows["BY-HAND"])
    assert fields(rows["IMPORTED"].credential) == fields(rows["BY-HAND"].credential)
    assert rows["IMPORTED"].credential.current_digest and rows["BY-HAND"].credential.current_digest
    events = {e.station.identity: e for e in AuditEvent.objects.select_related("station")}
    assert [(e.actor, e.action, e.outcome, e.detail) for e in events.values()] == \
        [("cli", "station.registered", "installed", {})] * 2
    assert one.pk != rows["IMPORTED"].pk


def test_keys_are_random_stores_the_cheap_hash_and_records_the_origin(tmp_path):
    make_tenant("acme")
    key = secrets.token_bytes(20)
    import_(write_csv(tmp_path, f"identity,key\nCP-1,{key.hex()}\n"), "--keys-are-random")
    cred = creds()["CP-1"]
    assert cred.current_origin == KeyOrigin.IMPORTED and KeyOrigin.IMPORTED.drawn_here
    assert cred.current_hash.startswith("pbkdf2_sha256_generated$")
    assert verify_key(key, cred.current_hash)


def test_mixed_rows_keep_their_keys_or_onboard_with_one_shared_master_hash(tmp_path):
    make_tenant("acme")
    key = secrets.token_bytes(20)
    # An empty key cell is "no key": the row onboards with the series key.
    path = write_csv(tmp_path, f"identity,key\nOWN,{key.hex()}\nNEW-1,\nNEW-2,  \n")
    out, _ = import_(path, "--master-key", MASTER.hex(), "--json")
    assert json.loads(out) == {"imported": 3, "with_key": 1, "onboarding": 2, "skipped": 0}
    found = creds()
    assert found["OWN"].current_origin == KeyOrigin.INSTALLED and not found["OWN"].needs_unique_key
    onboarding = [found["NEW-1"], found["NEW-2"]]
    assert all(c.current_origin == KeyOrigin.MASTER and c.needs_unique_key for c in onboarding)
    assert all(c.station.effective_registration == "Pending" for c in onboarding)
    assert onboarding[0].current_hash == onboarding[1].current_hash  # hashed once
    assert verify_key(MASTER, onboarding[0].current_hash)
    assert MASTER.hex() not in out


def test_master_key_is_needed_only_when_a_row_has_no_key(tmp_path):
    make_tenant("acme")
    keyed = write_csv(tmp_path, f"identity,key\nCP-1,{secrets.token_hex(20)}\n", "keyed.csv")
    import_(keyed)  # no --master-key: every row has its key
    mixed = write_csv(tmp_path, f"identity,key\nCP-2,{secrets.token_hex(20)}\nCP-3,\nCP-4,\n", "mixed.csv")
    with pytest.raises(CommandError, match=r"2 row\(s\) have no key \(first on line 3\).*--master-key"):
        import_(mixed)
    assert set(Station.objects.values_list("identity", flat=True)) == {"CP-1"}


BAD_KEY = "c0ffee" * 6 + "zzzz"  # 40 characters, not hex


@pytest.mark.parametrize("rows, message", [
    (f"CP-1,{BAD_KEY}", "line 3: key: a key is written in hexadecimal"),
    ("CP-1,c0ffeec0ffee", r"line 3: key: a key is 32 to 40 hexadecimal characters \(16 to 20 bytes\)"),
    ("CP-1,c0ffee" + "00" * 20, "line 3: key: a key is 32 to 40 hexadecimal characters"),
    ("CP-1," + "00" * 16 + "0", "line 3: key: a key is 32 to 40 hexadecimal characters"),  # odd
    (f"CP-0,{'11' * 20}", r"line 3: CP-0 appears twice \(first on line 2\)"),
    ("EXISTS,", r"line 3: EXISTS already exists \(use --skip-existing\)"),
    (f"CP-1,{MASTER.hex()}", "line 3: key is the master key"),
    ("CP:1,", "line 3: 'CP:1': identity may not contain ':'"),
])
def test_every_problem_is_named_by_line_and_nothing_is_written(tmp_path, rows, message):
    tenant = make_tenant("acme")
    make_station(tenant, "EXISTS", AL1000_KEY)
    path = write_csv(tmp_path, f"identity,key\nCP-0,{'22' * 20}\n{rows}\nCP-9,\n")
    with pytest.raises(CommandError, match=message) as refused:
        import_(path, "--master-key", MASTER.hex())
    assert str(refused.value).startswith("nothing imported:")
    for secret in (BAD_KEY, "c0ffee", "11" * 20, MASTER.hex()):
        assert secret not in str(refused.value).lower()  # never the value
    assert set(Station.objects.values_list("identity", flat=True)) == {"EXISTS"}
    assert StationCredential.objects.count() == AuditEvent.objects.count() == 1


def test_every_problem_in_the_file_is_reported_at_once(tmp_path):
    make_tenant("acme")
    path = write_csv(tmp_path, f"identity,key\nA,{BAD_KEY}\nA,\nB,12\n")
    with pytest.raises(CommandError) as refused:
        import_(path)
    lines = [line.strip() for line in str(refused.value).splitlines()[1:]]
    assert lines == ["line 2: key: a key is written in hexadecimal (0-9, a-f)",
                     "line 3: A appears twice (first on line 2)",
                     "line 4: key: a key is 32 to 40 hexadecimal characters (16 to 20 bytes)"]
    assert not Station.objects.exists()


def test_random_keys_must_not_repeat(tmp_path):
    make_tenant("acme")
    key = secrets.token_hex(20)
    path = write_csv(tmp_path, f"identity,key\nCP-1,{key}\nCP-2,{key.upper()}\n")
    with pytest.raises(CommandError, match="line 3: same key as line 2") as refused:
        import_(path, "--keys-are-random")
    assert key not in str(refused.value).lower()
    assert not Station.objects.exists()
    import_(path)  # an operator's own keys may repeat: their choice, and argon2 either way
    assert Station.objects.count() == 2


def test_skip_existing_leaves_existing_stations_and_their_keys_alone(tmp_path):
    tenant = make_tenant("acme")
    make_station(tenant, "CP-1", AL1000_KEY)
    new_key = secrets.token_bytes(20)
    path = write_csv(tmp_path, f"identity,key\nCP-1,{new_key.hex()}\nCP-2,{new_key.hex()}\n")
    with pytest.raises(CommandError, match="line 2: CP-1 already exists"):
        import_(path)
    out, _ = import_(path, "--skip-existing", "--json")
    assert json.loads(out) == {"imported": 1, "with_key": 1, "onboarding": 0, "skipped": 1}
    found = creds()
    assert verify_key(AL1000_KEY, found["CP-1"].current_hash)
    assert verify_key(new_key, found["CP-2"].current_hash)


def test_skipped_rows_need_no_master_key(tmp_path):
    tenant = make_tenant("acme")
    make_station(tenant, "CP-1", AL1000_KEY)
    path = write_csv(tmp_path, f"identity,key\nCP-1,\nCP-2,{secrets.token_hex(20)}\n")
    out, _ = import_(path, "--skip-existing", "--json")
    assert json.loads(out)["imported"] == 1


def test_text_output_names_no_key(tmp_path):
    make_tenant("acme")
    key = secrets.token_hex(20)
    out, err = import_(write_csv(tmp_path, f"identity,key\nCP-1,{key}\n"), "--keys-are-random")
    assert out.strip() == "imported 1 stations (1 with their keys, 0 for onboarding), skipped 0"
    assert key not in (out + err).lower()


def test_two_thousand_rows_in_one_import(tmp_path):
    """Bulk-created in batches (the 10,000-row timing is in docs/performance.md). The
    keys are attested random, so they take the cheap hash: the hash is not under test."""
    make_tenant("acme")
    lines = [f"FLEET-{i:04d},{secrets.token_hex(20) if i % 4 else ''}" for i in range(2000)]
    path = write_csv(tmp_path, "identity,key\n" + "\n".join(lines) + "\n")
    out, err = import_(path, "--keys-are-random", "--master-key", MASTER.hex(), "--json")
    assert json.loads(out) == {"imported": 2000, "with_key": 1500, "onboarding": 500, "skipped": 0}
    assert Station.objects.count() == StationCredential.objects.count() == 2000
    assert AuditEvent.objects.filter(action="station.registered").count() == 2000
    assert StationCredential.objects.filter(current_origin=KeyOrigin.IMPORTED).count() == 1500
    assert StationCredential.objects.filter(current_origin=KeyOrigin.MASTER,
                                            needs_unique_key=True).count() == 500
    assert "2000/2000" in err and "500/2000" in err  # progress per batch
    identity, key_hex = lines[1].split(",")
    assert verify_key(bytes.fromhex(key_hex), creds()[identity].current_hash)


@pytest.mark.django_db(transaction=True)
def test_an_imported_key_authenticates_a_real_handshake(csms, run, tmp_path):
    make_tenant("acme")
    operator_key, random_key = secrets.token_bytes(20), secrets.token_bytes(20)
    import_(write_csv(tmp_path, f"identity,key\nOLD-1,{operator_key.hex()}\n", "a.csv"))
    import_(write_csv(tmp_path, f"identity,key\nOLD-2,{random_key.hex()}\n", "b.csv"),
            "--keys-are-random")

    async def scenario():
        codes = []
        for identity, key in (("OLD-1", operator_key), ("OLD-2", random_key)):
            ws = await open_socket(csms, "acme", identity, key)
            async with ws:
                codes.append(ws.response.status_code)
        try:
            await open_socket(csms, "acme", "OLD-1", random_key)  # another station's key
        except websockets.InvalidStatus as exc:
            codes.append(exc.response.status_code)
        return codes

    assert run(scenario()) == [101, 101, 401]


def test_a_file_that_is_not_utf8_is_refused_naming_the_line_and_byte(tmp_path):
    make_tenant("acme")
    path = tmp_path / "latin1.csv"
    path.write_bytes("identity\nCP-1\nCP-Müller\n".encode("latin-1"))
    with pytest.raises(CommandError, match=r"not UTF-8 at line 3, byte 5 of the line .*0xfc.*save it as UTF-8"):
        import_(str(path), "--master-key", MASTER.hex())
    assert not Station.objects.exists()


def test_an_unterminated_quote_creates_no_station_with_a_newline_in_its_identity(tmp_path):
    make_tenant("acme")
    path = write_csv(tmp_path, 'identity\nCP-1\n"CP-2\nCP-3\nCP-4\n')
    with pytest.raises(CommandError, match=r"line 3-5: 'CP-2\\nCP-3\\nCP-4': identity contains control characters "
                                           r"\(U\+000A\); an unterminated quote"):
        import_(path, "--master-key", MASTER.hex())
    assert not Station.objects.exists()


def test_a_semicolon_separated_file_gets_a_hint(tmp_path):
    make_tenant("acme")
    path = write_csv(tmp_path, "identity;protocols\nCP-1;ocpp1.6\n")
    with pytest.raises(CommandError, match="separated by ';'.*separate them with ','"):
        import_(path, "--master-key", MASTER.hex())


def test_identities_follow_the_rule_of_their_protocols(tmp_path):
    make_tenant("acme")
    long = "C" * 49
    path = write_csv(tmp_path, f"identity,protocols\n{long},ocpp2.0.1\nRDAM 123,\n{long},ocpp1.6\nRDAM 124,ocpp1.6\n")
    with pytest.raises(CommandError) as refused:
        import_(path, "--master-key", MASTER.hex())
    assert "line 2: " in str(refused.value) and "OCPP 2.0.1 allows 48" in str(refused.value)
    assert "line 3: 'RDAM 123': identity contains ' ': OCPP 2.0.1 allows only" in str(refused.value)
    assert "line 4" not in str(refused.value) and "line 5" not in str(refused.value)
    path = write_csv(tmp_path, f"identity,protocols\n{long},ocpp1.6\nRDAM 124,ocpp1.6\n")
    import_(path, "--master-key", MASTER.hex())
    assert set(Station.objects.values_list("identity", flat=True)) == {long, "RDAM 124"}


def test_the_progress_bar_writes_no_carriage_return_into_a_log(tmp_path):
    make_tenant("acme")
    path = write_csv(tmp_path, "identity\n" + "".join(f"CP-{i}\n" for i in range(3)))
    out, err = import_(path, "--master-key", MASTER.hex())
    assert "\r" not in err
    assert err.splitlines()[-1].endswith("3/3")
