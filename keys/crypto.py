"""AES-256-GCM for provider API keys, under versioned master keys from the environment.

Threat model. A leaked database dump, backup or read-only SQL injection must not reveal any provider key:
the database holds only ciphertexts, and the master keys live only in the environment (never in the
repository, never in the database, separate from SECRET_KEY). An attacker who can *write* rows must not be
able to make a key work for someone else: the associated data binds each ciphertext to its purpose,
workspace, row and provider, so a blob copied onto another row, workspace or provider fails to decrypt
(and is reported as "re-enter this key", never as a crash or an empty key). Tampering with any byte fails
the GCM tag. Out of scope: an attacker who can read the process environment or memory of a running web or
worker process (they hold the master keys by design).

Stored form: `v{N}:{base64url(nonce ‖ ciphertext ‖ tag)}` without padding; N is the master-key version.
Every encryption draws a fresh random 96-bit nonce inside this module; callers cannot pass one. Random
nonces stay safe for far more than the 2**32 encryptions per master key that NIST allows, and rotation
(README "Rotating the master key") moves every row to a new key long before that.

Rotation is two-phase: a new version is first deployed decrypt-only (PRIMARY still names the old one),
then promoted, then `rewrap_keys` re-encrypts older rows, then MIN_VERSION retires the old version.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, the GCM nonce size that needs no extra hashing
TAG_BYTES = 16  # 128-bit tag, the full length
# Names the layout of the associated data, so a future format can never collide with this one.
AD_CONTEXT = b"aniavatar/key-vault/ad/v1"
PURPOSE_PROVIDER_KEY = "provider-key"  # a generation key: decrypted for image calls
# A read-only usage key (OpenAI Admin, fal Admin-scoped): decrypted only to read usage reports. A distinct
# purpose in the associated data, so a usage key's ciphertext never opens as a generation key.
PURPOSE_USAGE_KEY = "usage-report-key"
# A two-factor secret (keys/mfa_secrets.py): opened only to check a code at sign-in.
PURPOSE_MFA_SECRET = "mfa-secret"  # noqa: S105 (a label in the associated data, not a secret)

_STORED = re.compile(r"v([1-9][0-9]{0,5}):([A-Za-z0-9_-]+)")


class DecryptionError(Exception):
    """A stored value that cannot be turned back into its key: the user must re-enter the key."""


class TamperedCiphertext(DecryptionError):
    """The value was altered, truncated, or copied from another row, workspace or provider."""


class UnknownKeyVersion(DecryptionError):
    """The value names a master-key version this process does not have."""


class RetiredKeyVersion(DecryptionError):
    """The value names a master-key version below ANIAVATAR_MASTER_KEY_MIN_VERSION."""


@dataclass(frozen=True)
class Binding:
    """What a ciphertext belongs to; it is authenticated (not encrypted) as the associated data."""

    workspace: uuid.UUID
    key: uuid.UUID
    provider: str
    purpose: str = PURPOSE_PROVIDER_KEY

    def associated_data(self) -> bytes:
        """Return the canonical bytes of (purpose, workspace, key row, provider).

        Every field is length-prefixed (4 bytes, big-endian) and the field count is fixed, so no two
        different bindings can produce the same bytes: ("ab", "c") and ("a", "bc") differ in the
        prefixes. UUIDs go in as their 16 raw bytes, so their spelling (case, hyphens) cannot matter.
        """
        fields = (
            AD_CONTEXT,
            self.purpose.encode("utf-8"),
            uuid.UUID(str(self.workspace)).bytes,
            uuid.UUID(str(self.key)).bytes,
            self.provider.encode("utf-8"),
        )
        return b"".join(len(part).to_bytes(4, "big") + part for part in fields)


def aead(key: bytes) -> AESGCM:
    """Return the AES-256-GCM primitive for a master key, refusing anything but 32 bytes."""
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(f"A master key must be exactly {KEY_BYTES} bytes, not {len(key)}.")
    return AESGCM(key)


def _new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def seal(primitive: AESGCM, plaintext: bytes, associated_data: bytes) -> bytes:
    """Return nonce ‖ ciphertext ‖ tag under a fresh random nonce."""
    nonce = _new_nonce()
    return nonce + primitive.encrypt(nonce, plaintext, associated_data)


def open_sealed(primitive: AESGCM, blob: bytes, associated_data: bytes) -> bytes:
    """Return the plaintext of nonce ‖ ciphertext ‖ tag, or raise TamperedCiphertext."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise TamperedCiphertext("The stored key is too short to be a ciphertext.")
    try:
        return primitive.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise TamperedCiphertext(
            "The stored key failed its integrity check (altered, or moved from another row)."
        ) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TamperedCiphertext("The stored key is not valid base64url.") from None
    # Only the canonical spelling is accepted: otherwise a changed final character (unused low bits)
    # would decode to the same bytes and a "flipped" value would still open.
    if _b64url(data) != text:
        raise TamperedCiphertext("The stored key is not canonical base64url.")
    return data


def parse_stored(stored: str) -> tuple[int, bytes]:
    """Return (version, nonce ‖ ciphertext ‖ tag) of a stored value, or raise TamperedCiphertext."""
    match = _STORED.fullmatch(stored or "")
    if match is None:
        raise TamperedCiphertext("The stored key is not in the v{N}:{base64url} form.")
    return int(match[1]), _unb64url(match[2])


def version_of(stored: str) -> int:
    """Return the master-key version a stored value names."""
    return parse_stored(stored)[0]


@dataclass(frozen=True)
class Keyring:
    """Master keys by version, the version that encrypts, and the lowest version still accepted."""

    keys: dict[int, bytes] = field(repr=False)
    primary: int
    min_version: int = 0
    _primitives: dict[int, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_primitives", {v: aead(k) for v, k in self.keys.items()})
        if self.primary not in self.keys:
            raise ImproperlyConfigured(f"The primary master key version {self.primary} is not configured.")
        if self.primary < self.min_version:
            raise ImproperlyConfigured(
                f"The primary master key version {self.primary} is below the minimum version "
                f"{self.min_version}: nothing could be encrypted."
            )

    @property
    def versions(self) -> list[int]:
        return sorted(self.keys)

    def encrypt(self, plaintext: str, binding: Binding) -> str:
        """Return the stored form of `plaintext` under the primary version, bound to `binding`."""
        blob = seal(self._primitives[self.primary], plaintext.encode("utf-8"), binding.associated_data())
        return f"v{self.primary}:{_b64url(blob)}"

    def _primitive_for(self, version: int) -> AESGCM:
        if version < self.min_version:
            raise RetiredKeyVersion(f"Master key version {version} is retired (minimum {self.min_version}).")
        primitive = self._primitives.get(version)
        if primitive is None:
            raise UnknownKeyVersion(f"Master key version {version} is not configured.")
        return primitive

    def decrypt(self, stored: str, binding: Binding) -> str:
        """Return the plaintext of a stored value, or raise a DecryptionError subclass."""
        version, blob = parse_stored(stored)
        plaintext = open_sealed(self._primitive_for(version), blob, binding.associated_data())
        try:
            text = plaintext.decode("utf-8")
        except UnicodeDecodeError:  # only possible if someone sealed bytes that were never a key
            raise TamperedCiphertext("The stored key does not hold text.") from None
        if not text:
            raise TamperedCiphertext("The stored key is empty.")
        return text

    def has_version_of(self, stored: str) -> bool:
        """Return whether a stored value is well formed under a version this keyring still opens.

        Nothing is decrypted: pages use this, and only the worker decrypts (docs/architecture.md §4).
        """
        try:
            self._primitive_for(version_of(stored))
        except DecryptionError:
            return False
        return True


def parse_master_keys(spec: str) -> dict[int, bytes]:
    """Return {version: key} from `1:<base64 32 bytes>,2:<…>`; errors never quote key material."""
    keys: dict[int, bytes] = {}
    for position, item in enumerate((part.strip() for part in (spec or "").split(",")), start=1):
        if not item:
            continue
        version_text, sep, encoded = item.partition(":")
        if not sep or not re.fullmatch(r"\s*[0-9]{1,6}\s*", version_text) or int(version_text) < 1:
            raise ImproperlyConfigured(
                f"ANIAVATAR_MASTER_KEYS entry {position} must look like `<version ≥ 1>:<base64 of 32 bytes>`."
            )
        version = int(version_text)
        if version in keys:
            raise ImproperlyConfigured(f"ANIAVATAR_MASTER_KEYS names version {version} twice.")
        encoded = encoded.strip().replace("-", "+").replace("_", "/")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                f"ANIAVATAR_MASTER_KEYS version {version} is not valid base64."
            ) from None
        if len(key) != KEY_BYTES:
            raise ImproperlyConfigured(
                f"ANIAVATAR_MASTER_KEYS version {version} is {len(key)} bytes; it must be exactly "
                f"{KEY_BYTES} bytes (generate one with: python -c 'import base64,os; "
                "print(base64.b64encode(os.urandom(32)).decode())')."
            )
        keys[version] = key
    if not keys:
        raise ImproperlyConfigured("ANIAVATAR_MASTER_KEYS holds no master key.")
    return keys


def build_keyring(spec: str, primary: int = 0, min_version: int = 0) -> Keyring:
    """Return the keyring for the settings' values; PRIMARY 0 means the highest version."""
    keys = parse_master_keys(spec)
    if primary < 0 or min_version < 0:
        raise ImproperlyConfigured("Master key versions cannot be negative.")
    return Keyring(keys=keys, primary=primary or max(keys), min_version=min_version)


_cache: tuple[tuple[str, int, int], Keyring] | None = None
_cache_lock = threading.Lock()


def get_keyring() -> Keyring:
    """Return the process's keyring, rebuilt whenever the settings' values change (tests override them)."""
    global _cache
    config = (
        str(settings.ANIAVATAR_MASTER_KEYS),
        int(settings.ANIAVATAR_MASTER_KEY_PRIMARY or 0),
        int(settings.ANIAVATAR_MASTER_KEY_MIN_VERSION or 0),
    )
    cached = _cache
    if cached is not None and cached[0] == config:
        return cached[1]
    with _cache_lock:
        keyring = build_keyring(*config)
        _cache = (config, keyring)
    return keyring


def encrypt(plaintext: str, binding: Binding) -> str:
    """Return the stored form of `plaintext` under the current primary master key."""
    return get_keyring().encrypt(plaintext, binding)


def decrypt(stored: str, binding: Binding) -> str:
    """Return the plaintext of a stored value; only keys.services should call this."""
    return get_keyring().decrypt(stored, binding)
