"""Registering a fleet from a CSV file, for `station import` and the REST API alike: read
the rows, check the whole file (nothing is written unless every row is good), hash the
keys, then write stations, credentials and audit entries in batches in one transaction.

A problem names its line, never a key's value. The plain keys are dropped as soon as
they are hashed.
"""
import csv
import io
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import credentials, station_methods
from .auth import keys, policy
from .models import AuditEvent, KeyOrigin, Station, StationCredential
from .protocol.versions import SUPPORTED

BATCH = 500  # rows per bulk insert and per progress step


class FileRefused(ValueError):
    """The file as a whole cannot be read (not UTF-8, no `identity` column)."""


class WrittenMeanwhile(Exception):
    """A station of the file was registered by someone else between the check and the write."""


def parse_protocols(text: str) -> list[str]:
    """`ocpp1.6,ocpp2.0.1` (or `;`-separated) as a list; ValueError for an unknown one."""
    allowed = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    unknown = [p for p in allowed if p not in SUPPORTED]
    if unknown or not allowed:
        raise ValueError(f"unknown protocol(s) {unknown}; choose from {list(SUPPORTED)}")
    return allowed


def decode(data: bytes, name: str) -> str:
    """The file's text (UTF-8, with or without a byte-order mark), or FileRefused naming
    the line and byte where it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FileRefused(
            f"{name}: not UTF-8 at line {line}, byte {column} of the line (byte {exc.start} of the file: "
            f"0x{data[exc.start]:02x}); save it as UTF-8 (spreadsheets: 'CSV UTF-8') and import again"
        ) from None


def _delimiter_hint(fieldnames) -> str:
    header = ",".join(fieldnames or [])
    if "identity" in [f.strip() for f in header.split(";")]:
        return ("; its columns are separated by ';' (as some spreadsheets save CSV): "
                "separate them with ',' instead")
    return ""


def read_rows(text: str, name: str = "the file") -> tuple[list[dict], list[str]]:
    """Rows {line, identity, protocols, key} and every problem by line. `key` is the raw
    16- to 20-byte key or None (no column, or an empty cell)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _read(reader, name)
    except csv.Error as exc:  # a cell over the field limit, a quote never closed: the reader stops
        raise FileRefused(f"{name}: not a CSV file the import can read (line {reader.line_num + 1}: {exc})") from None


def _read(reader: csv.DictReader, name: str) -> tuple[list[dict], list[str]]:
    if not reader.fieldnames or "identity" not in [f.strip() for f in reader.fieldnames]:
        raise FileRefused(f"{name}: the first line must name the columns, including 'identity'"
                          + _delimiter_hint(reader.fieldnames))
    rows, errors, seen = [], [], {}
    ended = reader.line_num
    for record in reader:
        # A quoted cell may span lines: name the line the record starts on, and where it ends.
        started, ended = ended + 1, reader.line_num
        line = started if started == ended else f"{started}-{ended}"
        record = {k.strip(): (v or "").strip() for k, v in record.items() if k}
        identity = record.get("identity", "")
        problems = []
        try:
            protocols = parse_protocols(record.get("protocols") or ",".join(SUPPORTED))
        except ValueError as exc:
            protocols = []
            problems.append(str(exc))
        wrong = Station.identity_problems(identity, protocols)  # the model's rule, per protocol
        if wrong:
            problems += [f"{identity[:60]!r}: {p}" for p in wrong]
        elif identity in seen:
            problems.append(f"{identity} appears twice (first on line {seen[identity]})")
        else:
            seen[identity] = line
        key = None
        if record.get("key"):
            try:
                key = keys.parse_hex_key(record["key"])
            except ValueError as exc:  # says what is wrong, never the value
                problems.append(f"key: {exc}")
        if problems:
            errors += [f"line {line}: {p}" for p in problems]
            continue
        rows.append({"line": line, "identity": identity, "protocols": protocols, "key": key})
    return rows, errors


# How the caller names its options in a problem's hint: the REST API's fields here, the
# CLI passes its flags.
OPTION_NAMES = {"master_key": "master_key", "skip_existing": "skip_existing", "keys_are_random": "keys_are_random"}


def key_problems(rows: list[dict], master: bytes | None, keys_are_random: bool, skipped: set[str],
                 names=OPTION_NAMES) -> list[str]:
    """What is wrong with the keys taken together (never naming one)."""
    problems = []
    keyless = [r["line"] for r in rows if r["key"] is None and r["identity"] not in skipped]
    if keyless and master is None:
        problems.append(f"{len(keyless)} row(s) have no key (first on line {keyless[0]}): give "
                        f"{names['master_key']} to onboard them, or a key in each row")
    first_with = {}
    for row in rows:
        key = row["key"]
        if key is None:
            continue
        if master is not None and key == master:
            problems.append(f"line {row['line']}: key is the master key; leave the cell empty "
                            "to onboard the station")
        elif key in first_with and keys_are_random:
            problems.append(f"line {row['line']}: same key as line {first_with[key]}; keys drawn "
                            f"at random do not repeat ({names['keys_are_random']})")
        first_with.setdefault(key, row["line"])
    return problems


def existing_identities(tenant, identities: list[str], chunk=900) -> set[str]:
    found = set()
    for start in range(0, len(identities), chunk):  # under SQLite's parameter limit
        found.update(Station.objects.for_tenant(tenant)
                     .filter(identity__in=identities[start:start + chunk])
                     .values_list("identity", flat=True))
    return found


@dataclass
class Checked:
    """A file found good: the rows to write, and the stations it names that exist."""

    todo: list[dict]
    existing: set[str]
    errors: list[str]


def check(tenant, rows: list[dict], errors: list[str], master: bytes | None, *, keys_are_random: bool,
          skip_existing: bool, names=OPTION_NAMES) -> Checked:
    """Every problem of the file, with those of the rows read (`errors`)."""
    existing = existing_identities(tenant, [r["identity"] for r in rows])
    errors = list(errors)
    if existing and not skip_existing:
        errors += [f"line {r['line']}: {r['identity']} already exists (use {names['skip_existing']})"
                   for r in rows if r["identity"] in existing]
    errors += key_problems(rows, master, keys_are_random, skipped=existing, names=names)
    return Checked([r for r in rows if r["identity"] not in existing], existing, errors)


def check_file(tenant, text: str, master: bytes | None, *, keys_are_random: bool, skip_existing: bool,
               max_rows: int | None = None, name: str = "the file", names=OPTION_NAMES) -> Checked:
    """`read_rows` then `check`: every problem of a file's text, by line. FileRefused for
    a file that cannot be read, or one of more than `max_rows` rows."""
    rows, errors = read_rows(text, name)
    if max_rows is not None and len(rows) + len(errors) > max_rows:
        raise FileRefused(f"{name}: at most {max_rows} rows at a time")
    return check(tenant, rows, errors, master, keys_are_random=keys_are_random, skip_existing=skip_existing,
                 names=names)


def run(tenant, checked: Checked, master: bytes | None, *, keys_are_random: bool, actor: str, on_hashed=None,
        on_written=None) -> dict:
    """Import a file found good (`check`, no errors): hash its keys, write its rows (all
    or none: WrittenMeanwhile). The summary; `on_hashed(n)`, `on_written(n)` say how far."""
    counts = prepare(tenant, checked.todo, master, keys_are_random=keys_are_random, on_hashed=on_hashed)
    write(tenant, checked.todo, actor, on_written=on_written)
    return {"imported": len(checked.todo), **counts, "skipped": len(checked.existing)}


MAX_ERRORS_SHOWN = 100


def shown_errors(errors: list[str]) -> list[str]:
    """The first MAX_ERRORS_SHOWN problems, and how many more there are."""
    more = len(errors) - MAX_ERRORS_SHOWN
    return errors[:MAX_ERRORS_SHOWN] + ([f"... and {more} more"] if more > 0 else [])


def work_of(checked: Checked) -> int:
    """How many steps `run` reports: a key hashed or a row written, each one."""
    return sum(r["key"] is not None for r in checked.todo) + len(checked.todo)


def prepare(tenant, todo: list[dict], master: bytes | None, *, keys_are_random: bool, on_hashed=None) -> dict:
    """Hash the keys and seal the Digest verifiers of the rows to write; the plain keys
    are dropped. Returns the counts by kind."""
    keyed = [r for r in todo if r["key"] is not None]
    onboarding = [r for r in todo if r["key"] is None]
    origin = KeyOrigin.IMPORTED if keys_are_random else KeyOrigin.INSTALLED
    hashes = keys.hash_keys([r["key"] for r in keyed], generated=origin.drawn_here, on_done=on_hashed) \
        if keyed else []
    # One hash for the series key, one salt, shared by every row onboarding with it: a
    # salt keeps equal secrets from having equal hashes, and these are equal by
    # definition (docs/security.md, "Station credentials").
    master_hash = keys.hash_key(master) if onboarding else ""
    for row, key_hash in zip(keyed, hashes, strict=True):
        row["hash"], row["origin"], row["onboard"] = key_hash, origin, False
    for row in onboarding:
        row["key"], row["hash"], row["origin"], row["onboard"] = master, master_hash, KeyOrigin.MASTER, True
    # Digest verifiers name the station, as `credentials.new_key` makes them; EAP secrets
    # only for stations allowed EAP, the rules read once for the whole file.
    realm, rules = policy.realm(tenant), station_methods.current_rules(tenant)
    for row in todo:
        row["digest"] = keys.seal_digest(realm, row["identity"], row["key"], row["hash"])
        probe = Station(tenant=tenant, identity=row["identity"], allowed_protocols=row["protocols"])
        row["eap"] = (keys.seal_eap(realm, row["identity"], row["key"], row["hash"])
                      if "eap" in policy.allowed_methods(probe, rules) else "")
        row["key"] = None
    return {"with_key": len(keyed), "onboarding": len(onboarding)}


def write(tenant, rows: list[dict], actor: str, on_written=None) -> None:
    """Bulk-create the stations, their credentials and audit entries in batches, in one
    transaction: the rows `credentials.register_station` saves one by one."""
    now = timezone.now()
    try:
        with transaction.atomic():
            for start in range(0, len(rows), BATCH):
                batch = [credentials.registration_rows(
                    tenant, r["identity"], r["hash"], r["origin"], needs_unique_key=r["onboard"],
                    actor=actor, now=now, digest=r["digest"], eap=r["eap"], allowed_protocols=r["protocols"])
                    for r in rows[start:start + BATCH]]
                stations, creds, events = zip(*batch, strict=True)
                Station.objects.bulk_create(stations, batch_size=BATCH)
                StationCredential.objects.bulk_create(creds, batch_size=BATCH)
                AuditEvent.objects.bulk_create(events, batch_size=BATCH)
                if on_written:
                    on_written(start + len(batch))
    except IntegrityError:
        raise WrittenMeanwhile("nothing imported: a station in the file was created meanwhile; "
                               "run the import again") from None
