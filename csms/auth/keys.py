"""Station keys at rest: salted hashes only (OCPP-J 1.6 §6.2.2, "Storing the credentials").

Two hashers, by where the key came from (`csms.models.KeyOrigin`):

* keys this platform generated (160 or 238 random bits): one salted PBKDF2-SHA256
  iteration (`lib.hashing.GeneratedSecretHasher`): no slow hash protects a secret
  nobody can guess, and these are checked on every handshake without a throttle;
* keys an operator chose, imported or a series key: argon2id at OWASP's lightest
  profile (`lib.hashing.MachineSecretHasher`), through the process-wide hashing gate
  shared with user passwords and client secrets, so a flood of handshakes cannot
  exhaust the server's memory, and behind the throttle.
"""
import functools
import hashlib
import json
import logging
import re
import secrets
import string
import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from lib import sealing
from lib.hashing import GeneratedSecretHasher, MachineSecretHasher, gate
from lib.station_authority import BearerKeys
from lib.verified import RecentlyVerified

from . import digest, eap, totp
from .basic import KEY_BYTES, MAX_SECRET_BYTES, MIN_KEY_BYTES
from .schemes import Verdict

log = logging.getLogger(__name__)


class StationKeyHasher(MachineSecretHasher):
    pass


_HASHER = StationKeyHasher()
_GENERATED_HASHER = GeneratedSecretHasher()
_HASHERS = {hasher.algorithm: hasher for hasher in (_HASHER, _GENERATED_HASHER)}

# Station keys this process verified lately: a reconnect within this time needs no
# argon2 run, so it is not refused when a storm of guesses fills the hashing gate.
VERIFIED_TTL_SECONDS = 15 * 60
recently_verified = RecentlyVerified(VERIFIED_TTL_SECONDS, max_entries=100_000)


def hash_secret(secret: bytes, *, generated: bool = False) -> str:
    """Hash any station secret: a 1.6 key (16 to 20 bytes) or a 2.0.1 password (its bytes).

    `generated`: the platform drew this secret itself (`keys.generate_*`), so the cheap
    hash is enough. The hasher sees the secret's hex text, so raw key bytes that are
    not UTF-8 hash the same way on every platform.
    """
    if not 0 < len(secret) <= MAX_SECRET_BYTES:
        raise ValueError(f"a station secret is 1 to {MAX_SECRET_BYTES} bytes")
    hasher = _GENERATED_HASHER if generated else _HASHER
    return hasher.encode(secret.hex(), hasher.salt())


def _hasher_of(encoded: str):
    return _HASHERS.get(encoded.partition("$")[0])


def is_cheap(encoded: str) -> bool:
    """Whether checking a secret against this stored hash costs no slow hash."""
    return _hasher_of(encoded) is _GENERATED_HASHER


def verify_secret(secret: bytes, encoded: str) -> bool:
    """Constant-time check of `secret` against a stored hash (both hashers compare in
    constant time)."""
    # Anything but one of our hashes (empty, or another algorithm) never matches;
    # Django's hashers would assert on a foreign algorithm instead of answering.
    hasher = _hasher_of(encoded)
    if hasher is None or not 0 < len(secret) <= MAX_SECRET_BYTES:
        return False
    try:
        return hasher.verify(secret.hex(), encoded)
    except ValueError:
        return False


def is_key_size(key: bytes) -> bool:
    return MIN_KEY_BYTES <= len(key) <= KEY_BYTES


_KEY_SIZE = f"a station key is {MIN_KEY_BYTES} to {KEY_BYTES} bytes"


def hash_key(key: bytes, *, generated: bool = False) -> str:
    if not is_key_size(key):
        raise ValueError(_KEY_SIZE)
    return hash_secret(key, generated=generated)


def hash_keys(keys: list[bytes], *, generated: bool = False, on_done=None) -> list[str]:
    """`[hash_key(k, generated=generated) for k in keys]`, each with its own salt, for a
    batch (a fleet import): argon2 runs are submitted to the hashing gate many at a time
    (`lib.hashing._Gate.map`), so all of its threads hash at once; argon2 releases the
    GIL. The cheap hash takes microseconds and runs here, as `hash_key`
    does. `on_done(n)` is told how many are done, in order."""
    if not all(is_key_size(key) for key in keys):
        raise ValueError(_KEY_SIZE)
    if generated:
        hashes = []
        for key in keys:
            hashes.append(hash_secret(key, generated=True))
            if on_done is not None:
                on_done(len(hashes))
        return hashes
    # On a gate thread the gated hasher runs directly (`_Gate.run`), so `hash_secret`
    # is what each thread calls.
    return gate().map(hash_secret, keys, on_done=on_done)


def verify_key(key: bytes, encoded: str) -> bool:
    return is_key_size(key) and verify_secret(key, encoded)


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


# OCPP 2.0.1 BasicAuthPassword is a passwordString of 16 to 40 characters; letters and
# digits are safe in every station's configuration store and give 238 bits at 40.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 40


_HEX_SHAPED = re.compile(r"[0-9A-Fa-f]{40}")


def generate_password() -> str:
    """A password that never looks like a hex-written key: the handshake reads a 40-hex
    password as a key (`basic.candidate_secret`), so one shaped like that could not be
    told apart. The odds of drawing one are about 1e-18; the loop makes them zero."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if not _HEX_SHAPED.fullmatch(password):
            return password


def parse_hex_key(text: str) -> bytes:
    """A key given by an operator as 32 to 40 hex characters (16 to 20 bytes)."""
    text = text.strip()
    if len(text) % 2 or not 2 * MIN_KEY_BYTES <= len(text) <= 2 * KEY_BYTES:
        raise ValueError(f"a key is {2 * MIN_KEY_BYTES} to {2 * KEY_BYTES} hexadecimal characters "
                         f"({MIN_KEY_BYTES} to {KEY_BYTES} bytes)")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a key is written in hexadecimal (0-9, a-f)") from None


# --- the handshake's check ----------------------------------------------------------------

@dataclass(frozen=True)
class StoredKeys:
    """The hashes a station's credential record accepts right now (one, or two while a
    change is unresolved), as the authentication schemes check a secret against them
    (`schemes.SecretStore`)."""
    hashes: tuple[str, ...]

    def all_cheap(self) -> bool:
        """Whether every valid key has the cheap hash (`admission.unthrottled`)."""
        return bool(self.hashes) and all(is_cheap(h) for h in self.hashes)

    def check(self, secret: bytes) -> Verdict:
        """Which stored key `secret` is, in constant time per hash. A key this process
        verified a moment ago needs no argon2 run (lib/verified.py); a generated key's
        cheap hash is checked every time; anything else costs one argon2 run per valid
        key — never one per reading of the secret."""
        slow = [h for h in self.hashes if not is_cheap(h)]
        for h in slow:
            if recently_verified.matches(h, secret):
                return Verdict(True, key_hash=h)
        hashes = 0
        for h in self.hashes:
            cheap = is_cheap(h)
            hashes += not cheap
            if verify_secret(secret, h):
                if not cheap:
                    recently_verified.remember(h, secret)
                return Verdict(True, key_hash=h, hashes=hashes)
        return Verdict(False, "wrong credentials", hashes=hashes)

    def decoy(self, secret: bytes) -> int:
        """One verification that cannot succeed the caller's way, as a right login with a
        wrong key would usually cost, so timing does not tell which part failed; no
        more, so a wrong login cannot buy an attacker several argon2 runs. Returns the
        argon2 runs it cost."""
        first = self.hashes[0] if self.hashes else ""
        verify_secret(secret or b"\0", first)
        return int(not is_cheap(first))


# --- tokens (csms/auth/token.py) ------------------------------------------------------------

def hash_token_secret(secret: str) -> str:
    """A token's secret part at rest: the cheap salted hash of generated keys (256 random
    bits need no slow hash; docs/security.md, "Station tokens")."""
    return hash_secret(secret.encode("ascii"), generated=True)


_DECOY_TOKEN_HASH = hash_token_secret("decoy")


@dataclass(frozen=True)
class StoredTokens:
    """The station's active tokens, as (public id, secret hash) pairs: at most one is
    looked at per attempt, found by its public id (`schemes.TokenStore`)."""
    rows: tuple[tuple[str, str], ...] = ()

    def check(self, public_id: str, secret: bytes) -> Verdict:
        found = dict(self.rows).get(public_id)
        if found is None:  # same cost as a wrong secret, so timing does not tell ids apart
            verify_secret(secret or b"\0", _DECOY_TOKEN_HASH)
            return Verdict(False, "wrong credentials")
        if verify_secret(secret, found):
            return Verdict(True, token_id=public_id)
        return Verdict(False, "wrong credentials")


# --- Digest verifiers (csms/auth/digest.py) -------------------------------------------------

REPLAY_CACHE = "auth_replay"  # Digest (nonce, nc) pairs and TOTP slots seen
# Before any mark is written: this module is imported as the process starts serving.
_PROCESS_STARTED = time.monotonic()


def replay_memory_age() -> float | None:
    """For how long the replay marks this process sees have been kept: its uptime, where
    they are kept in its own memory (embedded mode, no REDIS_URL), so a restart forgets
    them; None where they are shared and outlive a restart."""
    return time.monotonic() - _PROCESS_STARTED if isinstance(caches[REPLAY_CACHE], LocMemCache) else None


def _digest_aad(realm: str, identity: str, key_hash: str) -> bytes:
    # The row, station, tenant and key the verifiers belong to: copied anywhere else
    # they do not open.
    return b"\0".join((b"station-digest-verifiers", realm.encode(), identity.encode(), key_hash.encode()))


def seal_digest(realm: str, identity: str, secret: bytes, key_hash: str) -> str:
    """The Digest verifiers of a station key, per algorithm and password reading
    (`digest.passwords`), sealed under the KEK (lib/sealing.py) for the key's slot:
    made wherever a key is set (`credentials.new_key`, `station import`)."""
    table = {algorithm: [digest.verifier(algorithm, identity, realm, password).decode("ascii")
                         for password in digest.passwords(secret)]
             for algorithm in digest.ALGORITHMS}
    return sealing.seal(json.dumps(table).encode("ascii"), _digest_aad(realm, identity, key_hash))


@functools.cache
def digest_server_key() -> bytes:
    """The key of Digest nonces and opaque values: derived from the KEK, so the same in
    every process of a deployment (a nonce one issued, another checks)."""
    return sealing.derive(b"chargegate digest nonces")


@dataclass(frozen=True)
class StoredDigest:
    """The Digest side of a station's valid keys (`digest.DigestStore`): their sealed
    verifiers, by key hash, and the shared replay store."""
    realm: str
    identity: str
    rows: tuple[tuple[str, str], ...]  # (key hash, sealed verifiers) of each valid key

    def server_key(self) -> bytes:
        return digest_server_key()

    def verifiers(self, algorithm: str) -> list[tuple[str, tuple[bytes, ...]]]:
        found = []
        for key_hash, sealed in self.rows:
            if not sealed:
                continue  # a key set before Digest existed: rekey or rotate to get one
            try:
                table = json.loads(sealing.unseal(sealed, _digest_aad(self.realm, self.identity, key_hash)))
            except sealing.KeyEncryptionError:
                log.warning("station %s: Digest verifiers do not open (KEK changed?)", self.identity)
                continue
            found.append((key_hash, tuple(v.encode("ascii") for v in table.get(algorithm, ()))))
        return found

    def first_use(self, nonce: bytes, nc: int, ttl: int) -> bool:
        """Django's cache `add` is atomic (Redis SET NX; the in-memory cache's lock), so of
        two processes given the same (nonce, nc), one wins. Only right responses get here,
        so guesses cannot fill the store; it has a cache alias of its own, so a flood
        filling the throttle's cannot push these out."""
        key = "nc:" + hashlib.sha256(nonce).hexdigest()[:32] + f":{nc:x}"
        return caches[REPLAY_CACHE].add(key, 1, timeout=max(1, ttl))

    def memory_age(self) -> float | None:
        return replay_memory_age()

    def now(self) -> float:
        return time.time()

    def random(self, n: int) -> bytes:
        return secrets.token_bytes(n)


# --- TOTP secrets (csms/auth/totp.py) -------------------------------------------------------

def _totp_aad(realm: str, identity: str, public_id: str) -> bytes:
    return b"\0".join((b"station-totp-secret", realm.encode(), identity.encode(), public_id.encode()))


def seal_totp(realm: str, identity: str, public_id: str, secret: str) -> str:
    return sealing.seal(secret.encode("utf-8"), _totp_aad(realm, identity, public_id))


@dataclass(frozen=True)
class StoredTotp:
    """A station's active TOTP secret, sealed (`totp.TotpStore`), and the shared store
    of the slots it has used."""
    realm: str
    identity: str
    public_id: str
    sealed: str
    validity: int
    length: int
    hash_algorithm: str

    def config(self) -> totp.Config | None:
        try:
            secret = sealing.unseal(self.sealed, _totp_aad(self.realm, self.identity, self.public_id))
        except sealing.KeyEncryptionError:
            log.warning("station %s: TOTP secret does not open (KEK changed?)", self.identity)
            return None
        return totp.config(secret.decode("utf-8"), self.validity, self.length, None, self.hash_algorithm)

    def first_use(self, slot: int, ttl: int) -> bool:
        """Each slot once, for every process (`cache.add` is atomic)."""
        key = "totp:" + hashlib.sha256(f"{self.realm}/{self.identity}/{self.public_id}".encode()).hexdigest()[:32]
        return caches[REPLAY_CACHE].add(f"{key}:{slot:x}", 1, timeout=ttl)

    def now(self) -> float:
        return time.time()


# --- EAP secrets (csms/auth/eap.py) -----------------------------------------------------------

# Open EAP rounds and the spent marks that make each one usable once. Not the replay
# cache: a round is opened by any handshake naming a station allowed EAP, credentials or
# none, so rounds are as many as an attacker with many addresses likes, and in process
# memory a full cache culls its oldest entries, which were the Digest and TOTP marks.
EAP_ROUND_CACHE = "eap_rounds"


def _eap_aad(realm: str, identity: str, key_hash: str) -> bytes:
    return b"\0".join((b"station-eap-secret", realm.encode(), identity.encode(), key_hash.encode()))


def seal_eap(realm: str, identity: str, secret: bytes, key_hash: str) -> str:
    """A station key's EAP passwords (`eap.eap_passwords`: what the station is configured
    with), sealed under the KEK for the key's slot. EAP-MD5 needs the password itself
    (CHAP has no verifier), so this is made only for stations allowed EAP when the key
    is set (`credentials.new_key`)."""
    table = [p.hex() for p in eap.eap_passwords(secret)]
    return sealing.seal(json.dumps(table).encode("ascii"), _eap_aad(realm, identity, key_hash))


@dataclass(frozen=True)
class StoredEap:
    """The EAP side of a station's valid keys (`eap.EapStore`): their sealed passwords, by
    key hash, and its open rounds in the shared cache, under a key naming the realm,
    station and client address, so a round is no use to another station or address."""
    realm: str
    identity: str
    source: str
    rows: tuple[tuple[str, str], ...]  # (key hash, sealed EAP passwords) of each valid key
    round_seconds: int = eap.ROUND_SECONDS

    def has_secret(self) -> bool:
        return any(sealed for _, sealed in self.rows)

    def secrets(self) -> list[tuple[str, tuple[bytes, ...]]]:
        found = []
        for key_hash, sealed in self.rows:
            if not sealed:
                continue  # set while the station was not allowed EAP: rotate or rekey it
            try:
                table = json.loads(sealing.unseal(sealed, _eap_aad(self.realm, self.identity, key_hash)))
            except sealing.KeyEncryptionError:
                log.warning("station %s: EAP secret does not open (KEK changed?)", self.identity)
                continue
            found.append((key_hash, tuple(bytes.fromhex(p) for p in table)))
        return found

    def _slot(self, identifier: int) -> str:
        where = hashlib.sha256(f"{self.realm}\0{self.identity}\0{self.source}".encode()).hexdigest()[:32]
        return f"eap:{where}:{identifier % eap.ROUND_SLOTS}"

    def open_round(self, found: eap.Round) -> None:
        """Into its slot (identifier mod ROUND_SLOTS), replacing what was there: at most
        ROUND_SLOTS rounds per station and address, whatever is sent."""
        value = (found.identifier, found.method, found.kept.hex(), secrets.token_hex(16),
                 time.time() + self.round_seconds)
        caches[EAP_ROUND_CACHE].set(self._slot(found.identifier), value, timeout=self.round_seconds)

    def take_round(self, identifier: int) -> eap.Round | None:
        cache = caches[EAP_ROUND_CACHE]
        value = cache.get(self._slot(identifier))
        if value is None:
            return None
        round_identifier, method, kept, round_id, expires = value
        if round_identifier != identifier or time.time() > expires:
            return None
        # `add` is atomic (Redis SET NX): of two handshakes answering one round, one wins.
        if not cache.add(f"eap-spent:{round_id}", 1, timeout=self.round_seconds + 1):
            return None
        return eap.Round(round_identifier, method, bytes.fromhex(kept))

    def random(self, n: int) -> bytes:
        return secrets.token_bytes(n)


# --- Bearer (csms/auth/bearer.py) -----------------------------------------------------------

@dataclass(frozen=True)
class StoredBearer:
    """The tenant's token keys as the authorization server published them
    (`bearer.BearerStore`; lib.station_authority), None when it has none."""
    loaded: BearerKeys | None

    def keys(self) -> BearerKeys | None:
        return self.loaded

    def now(self) -> float:
        return time.time()
