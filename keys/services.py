"""The key vault's actions: add, replace, re-test and delete keys; the worker's just-in-time decrypt.

Only this module calls `crypto.decrypt`, and every decryption is recorded as a `KeyUse`. A plaintext key
exists only in the arguments and local variables of these functions and of the provider call; it is never
logged, stored, put in a message or an exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

import providers
from accounts import audit
from accounts.models import User, Workspace
from keys import crypto
from keys.models import KeyUse, ProviderKey
from providers.base import sanitize
from providers.redaction import looks_like_key
from providers.sentences import provider_sentences
from providers.sentences import translate as translate_sentences

logger = logging.getLogger(__name__)

KEY_CHECK_TIMEOUT = 10.0
MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 512
REENTER_MESSAGE = "This key must be re-entered"
# What a key's card says about its checks and uses: stored in English (status_message, KeyUse.detail) and
# shown in the reader's language by `shown` (with the providers' key-check sentences).
NO_FREE_CHECK = gettext_noop(
    "{provider} has no free key check: the first generation with this key will prove it."
)
SAVED_UNVERIFIED = gettext_noop("Saved as unverified.")
STORED_INTACT = gettext_noop(
    "The key is stored intact. {provider} has no free key check: the next generation will prove it."
)
WORKED = gettext_noop("Worked for a generation.")
NOTHING_SAVED = gettext_noop("Nothing was saved.")
KEY_UNCHANGED = gettext_noop("The saved key was not changed.")
REPORT_READ = gettext_noop("Read {provider}'s usage report.")  # a usage key's report call worked
SENTENCES = (
    NO_FREE_CHECK,
    SAVED_UNVERIFIED,
    STORED_INTACT,
    WORKED,
    NOTHING_SAVED,
    KEY_UNCHANGED,
    REPORT_READ,
)

Status = ProviderKey.Status
Kind = ProviderKey.Kind
Outcome = KeyUse.Outcome
Purpose = KeyUse.Purpose
# What each kind of key may be decrypted for: a usage key only by a reconciliation (and rewrap_keys).
PURPOSES = {
    Kind.GENERATE: {Purpose.GENERATE, Purpose.VALIDATE, Purpose.PAYLOADS},
    Kind.USAGE: {Purpose.RECONCILE},
}


class VaultError(Exception):
    """A refusal whose message is safe to show: it never contains the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyRejected(VaultError):
    """The provider refused the key, or it cannot be a key for that provider; nothing was stored."""


class DuplicateKey(VaultError):
    """The workspace already holds this key for this provider."""

    def __init__(self, existing: ProviderKey | None) -> None:
        if existing:
            message = _(
                "This key is already saved in this workspace as “%(label)s” (%(hint)s). Re-test or replace that one."
            ) % {"label": existing.label, "hint": existing.hint}
        else:
            message = _(
                "This key is already saved in this workspace as another key. Re-test or replace that one."
            )
        super().__init__(message)
        self.existing = existing


class KeyUnavailable(VaultError):
    """The stored key no longer decrypts (moved, altered, or its master key is unknown or retired)."""

    def __init__(self, message: str = REENTER_MESSAGE) -> None:
        super().__init__(message)


class WrongKind(KeyUnavailable):
    """A key asked for what its kind is not for (a read-only usage key for a generation); not decrypted."""

    def __init__(self, key: ProviderKey, purpose: str) -> None:
        if key.is_usage_key:
            message = (
                f"“{key.label}” is a read-only usage key: it is used only to read {key.provider_label}'s "
                "usage reports and can never generate. Choose a generation key."
            )
        else:
            message = f"“{key.label}” is a generation key: it cannot be used for {purpose}."
        super().__init__(message)


def shown(text: str) -> str:
    """A key's stored note (status, a use's detail) in the reader's language; English stays as stored."""
    if (get_language() or "en").startswith("en"):
        return text
    return translate_sentences(text, (*SENTENCES, *provider_sentences()), _)


# Pure helpers (forms use them too)


def shape_problem(provider: str, secret: str) -> str | None:
    """Return why `secret` cannot be a generation key for `provider`, or None; checked before sending."""
    problem = _common_shape_problem(provider, secret) or providers.get(provider).key_problem(secret)
    return _(problem) if problem else None


def _common_shape_problem(provider: str, secret: str) -> str | None:
    """Return why `secret` cannot be any key (generation or usage) for `provider`, or None."""
    if not secret:
        return _("Paste the API key.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) > 126 for ch in secret):
        return _(
            "The key contains spaces, line breaks or characters that API keys never have. Paste it again."
        )
    if len(secret) < MIN_KEY_LENGTH:
        return _("This is too short to be an API key. Paste the whole key.")
    if len(secret) > MAX_KEY_LENGTH:
        return _("This is too long to be an API key.")
    try:
        adapter = providers.get(provider)
    except providers.UnknownProvider:
        return _("Choose a provider.")
    # Never send one provider's key to another provider.
    for other in providers.all_adapters():
        if other is not adapter and other.looks_like(secret):
            return _("This looks like %(kind)s. Choose %(provider)s as the provider.") % {
                "kind": _(other.key_description),
                "provider": other.label,
            }
    return None


def usage_shape_problem(provider: str, secret: str) -> str | None:
    """Return why `secret` cannot be `provider`'s usage key (an admin key), or None."""
    problem = _common_shape_problem(provider, secret)
    if problem:
        return problem
    adapter = providers.get(provider)
    if providers.Capability.USAGE_REPORT not in adapter.capabilities:
        return _("%(provider)s usage reports are not supported.") % {"provider": adapter.label}
    problem = adapter.usage_key_problem(secret)
    return _(problem) if problem else None


def usage_providers() -> list[tuple[str, str]]:
    """Return (name, label) of the providers whose usage reports the app reads."""
    return [
        (a.name, a.label)
        for a in providers.all_adapters()
        if providers.Capability.USAGE_REPORT in a.capabilities
    ]


LABEL_HOLDS_A_KEY = gettext_noop(
    "This looks like an API key. Put the key in the key field and give it a plain name here."
)
LONG_TOKEN = 32  # a run of key-alphabet characters this long must read as words
KEY_PIECE = MIN_KEY_LENGTH  # this many characters of the key being saved may not appear in its label
# A run of the characters keys are written in (base64, base64url, hex); the separators inside one; the
# words and numbers a run splits into ("SpringCollection2026" → Spring, Collection, 2026).
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]+")
_SEPARATORS = re.compile(r"[-_+/=]+")
_ATOM = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
_CONSONANTS = re.compile(r"[b-df-hj-np-tv-xz]{5}", re.IGNORECASE)
# fal's KEY_ID:KEY_SECRET, whatever the secret's alphabet.
_ID_AND_SECRET = re.compile(r"(?<![\w-])[\w-]{8,}:([\w-]{16,})")


def _word_like(atom: str) -> bool:
    """A number of at most 8 digits, "a" or "I", an abbreviation, or letters one could pronounce."""
    if atom.isdigit():
        return len(atom) <= 8
    if len(atom) == 1:
        return atom in "aAI"
    if atom.isupper() and len(atom) <= 5:
        return True
    return bool(_VOWEL.search(atom)) and not _CONSONANTS.search(atom)


def _made_of_words(token: str) -> bool:
    """Whether a run of key-alphabet characters reads as words and numbers rather than random text.

    Random text mixes digits into letters ("aB3dE5"), splits into short pieces and has pieces nobody
    could pronounce; a label made of words ("Acme-International-Marketing-Team-Personas-2027") does
    none of that. Of random 32-character base62 or base64url tokens about 1 in 15,000 passes as words,
    of 40-character ones 1 in 50,000 or fewer; of tokens of letters only, without digits, about 1 in 200
    (a backstop: the key being saved is refused whatever its shape; tests/keys/test_key_labels.py).
    """
    atoms = _ATOM.findall(token)
    if not atoms:
        return True
    letters = [atom for atom in atoms if not atom.isdigit()]
    length = sum(map(len, atoms))
    return (
        max(len(_LETTER_DIGIT.findall(part)) for part in _SEPARATORS.split(token)) < 3
        and sum(len(atom) for atom in atoms if _word_like(atom)) >= 0.9 * length
        and length >= 3 * len(atoms)
        and sum(1 for atom in letters if len(atom) <= 2) <= 0.4 * len(letters)
    )


def _readable(label: str) -> str:
    """Return `label` as its characters read: full-width forms folded (NFKC), invisible ones dropped."""
    folded = unicodedata.normalize("NFKC", label)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def label_problem(label: str, secret: str = "") -> str | None:
    """Return why `label` must not be stored (it holds a key or a piece of one), or None.

    Refused: the key being saved or any 16 characters of it; anything `providers.redaction` calls
    key-shaped; fal's KEY_ID:KEY_SECRET with a secret that is not words; any run of 32 or more
    base64/hex characters that is not made of words. Ordinary labels, long slugs included, pass.
    """
    text = _readable(label)
    secret = (secret or "").strip()
    if secret and any(secret[i : i + KEY_PIECE] in text for i in range(max(1, len(secret) - KEY_PIECE + 1))):
        return _(LABEL_HOLDS_A_KEY)
    if looks_like_key(text):
        return _(LABEL_HOLDS_A_KEY)
    if any(not _made_of_words(m.group(1)) for m in _ID_AND_SECRET.finditer(text)):
        return _(LABEL_HOLDS_A_KEY)
    if any(len(t) >= LONG_TOKEN and not _made_of_words(t) for t in _TOKEN.findall(text)):
        return _(LABEL_HOLDS_A_KEY)
    return None


def _default_label(provider: str, kind: str = Kind.GENERATE) -> str:
    name = providers.get(provider).label
    return f"{name} usage key" if kind == Kind.USAGE else f"{name} key"


def hint_for(provider: str, secret: str) -> str:
    """Return the masked form shown in pages: `sk-proj-…Ab3d`, or fal's `3f8a…9f0e`."""
    return providers.get(provider).hint(secret)


def fingerprint_for(provider: str, secret: str) -> str:
    """Return an HMAC-SHA256 of (provider, key) under ANIAVATAR_FINGERPRINT_KEY (never a bare hash)."""
    message = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (b"aniavatar/key-fingerprint/v1", provider.encode(), secret.encode())
    )
    return hmac.new(settings.ANIAVATAR_FINGERPRINT_KEY.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What a provider check said, as a status to store and a use outcome to record."""

    status: str
    outcome: str
    message: str
    verified: bool  # whether the provider answered about this key


def check_with_provider(provider: str, secret: str) -> Verdict:
    """Ask the provider about the key where it has a free check (OpenAI's model list); fal has none."""
    adapter = providers.get(provider)
    check = adapter.check_key(secret, timeout=KEY_CHECK_TIMEOUT)
    if check is None:
        return Verdict(
            Status.UNVERIFIED,
            Outcome.OK,
            NO_FREE_CHECK.format(provider=adapter.label),
            verified=False,
        )
    verdicts = {
        "valid": (Status.VALID, Outcome.OK),
        "invalid": (Status.INVALID, Outcome.REJECTED),
        "forbidden": (Status.RESTRICTED, Outcome.RESTRICTED),
    }
    if check.status in verdicts:
        status, outcome = verdicts[check.status]
        return Verdict(status, outcome, sanitize(check.message, [secret]), verified=True)
    note = sanitize(check.message, [secret])
    return Verdict(Status.UNVERIFIED, Outcome.UNREACHABLE, f"{note} {SAVED_UNVERIFIED}", verified=False)


def check_usage_key_with_provider(provider: str, secret: str) -> Verdict:
    """Ask the provider whether the key may read usage (a cheap admin call); refused unless it can."""
    adapter = providers.get(provider)
    today = timezone.now().astimezone(dt.UTC).date()
    check = adapter.check_usage_key(secret, timeout=KEY_CHECK_TIMEOUT, today=today)
    if check is None or check.status == "unreachable":
        note = sanitize(check.message, [secret]) + " " if check is not None else ""
        return Verdict(Status.UNVERIFIED, Outcome.UNREACHABLE, f"{note}{SAVED_UNVERIFIED}", verified=False)
    message = sanitize(check.message, [secret])
    if check.status == "valid":
        return Verdict(Status.VALID, Outcome.OK, message, verified=True)
    # A key the provider knows but that cannot read usage is no use here: refused like a rejected one.
    outcome = Outcome.REJECTED if check.status == "invalid" else Outcome.RESTRICTED
    return Verdict(Status.INVALID, outcome, message, verified=True)


# Adding, replacing, re-testing and deleting (the settings page)


def _normalised(provider: str, secret: str, kind: str = Kind.GENERATE) -> str:
    secret = (secret or "").strip()
    problem = usage_shape_problem(provider, secret) if kind == Kind.USAGE else shape_problem(provider, secret)
    if problem:
        raise KeyRejected(problem)
    return secret


def seal(key: ProviderKey, secret: str) -> None:
    """Set an unsaved or existing row's ciphertext, key version, hint and fingerprint from `secret`.

    Encrypts under the primary master key, bound to the row (its code must be final). Nothing is
    checked with the provider and nothing is saved: `add_key` and `replace_key` call it after their
    checks (in `_check_and_store`); tests call it to store a key in a state the provider double
    cannot produce on add.
    """
    keyring = crypto.get_keyring()
    key.ciphertext = keyring.encrypt(secret, key.binding())
    key.key_version = keyring.primary
    key.hint = hint_for(key.provider, secret)
    key.fingerprint = fingerprint_for(key.provider, secret)


def _apply(key: ProviderKey, verdict: Verdict) -> None:
    key.status = verdict.status
    key.status_message = verdict.message
    if verdict.verified:
        key.last_verified_at = timezone.now()


def _duplicate_of(
    workspace: Workspace, provider: str, fingerprint: str, exclude: int | None = None
) -> ProviderKey | None:
    found = ProviderKey.objects.for_workspace(workspace).filter(provider=provider, fingerprint=fingerprint)
    if exclude is not None:
        found = found.exclude(pk=exclude)
    return found.first()


def _record_use(
    key: ProviderKey,
    *,
    purpose: str,
    outcome: str,
    detail: str = "",
    actor: User | None = None,
    generation_code: UUID | None = None,
) -> KeyUse:
    return KeyUse.objects.create(
        key=key,
        workspace_id=key.workspace_id,
        provider=key.provider,
        key_label=key.label,
        key_hint=key.hint,
        generation_code=generation_code,
        purpose=purpose,
        outcome=outcome,
        detail=sanitize(detail) if detail else "",
        actor=actor,
    )


# @sensitive_variables(): Django's error reports (with DEBUG off) show no local variable of these calls, nor
# of any call beneath them: their frames hold a plaintext key.
@sensitive_variables()
def add_key(*, workspace: Workspace, user: User, provider: str, label: str, secret: str) -> ProviderKey:
    """Check a new key with its provider, then store it encrypted; raise KeyRejected or DuplicateKey."""
    secret = _normalised(provider, secret)
    label = (label or "").strip()[:100] or _default_label(provider)
    key = ProviderKey(workspace=workspace, created_by=user, provider=provider, label=label)
    _check_and_store(key, user=user, secret=secret, unchanged=NOTHING_SAVED)
    audit.record(workspace, user, audit.Action.KEY_ADDED, f"{key.label} ({key.hint})")
    logger.info(
        "provider key %s added to workspace %s (%s, %s) by user %s",
        key.code,
        workspace.code,
        provider,
        key.status,
        user.pk,
    )
    return key


@sensitive_variables()
def add_usage_key(*, workspace: Workspace, user: User, provider: str, label: str, secret: str) -> ProviderKey:
    """Check a read-only usage key (an admin key) with its provider, then store it under its own purpose.

    One per provider and workspace; raise KeyRejected (not an admin key, refused) or DuplicateKey.
    """
    secret = _normalised(provider, secret, Kind.USAGE)
    existing = ProviderKey.objects.for_workspace(workspace).filter(provider=provider, kind=Kind.USAGE).first()
    if existing is not None:
        raise KeyRejected(
            _(
                "This workspace already has a %(provider)s usage key, “%(label)s”: replace or delete it first. "
                "Nothing was saved."
            )
            % {"provider": existing.provider_label, "label": existing.label}
        )
    label = (label or "").strip()[:100] or _default_label(provider, Kind.USAGE)
    key = ProviderKey(workspace=workspace, created_by=user, provider=provider, label=label, kind=Kind.USAGE)
    _check_and_store(key, user=user, secret=secret, unchanged=NOTHING_SAVED)
    audit.record(workspace, user, audit.Action.KEY_ADDED, f"{key.label} ({key.hint}, usage key)")
    logger.info(
        "usage key %s added to workspace %s (%s, %s) by user %s",
        key.code,
        workspace.code,
        provider,
        key.status,
        user.pk,
    )
    return key


@sensitive_variables()
def replace_key(key: ProviderKey, *, user: User, secret: str, label: str = "") -> ProviderKey:
    """Check a new secret for an existing key row, then store it in place (audit and code stay).

    A blank `label` keeps the current one, unless that holds a key (saved before labels were checked):
    then the key gets the provider's default name instead.
    """
    secret = _normalised(key.provider, secret, key.kind)
    label, saved_label = (label or "").strip()[:100], key.label
    if label:
        key.label = label
    elif label_problem(key.label, secret):
        key.label = _default_label(key.provider, key.kind)
    try:
        _check_and_store(key, user=user, secret=secret, unchanged=KEY_UNCHANGED)
    except VaultError:
        key.label = saved_label  # nothing was saved: the page goes on showing the stored name
        raise
    audit.record(key.workspace, user, audit.Action.KEY_REPLACED, f"{key.label} ({key.hint})")
    logger.info("provider key %s replaced by user %s (%s)", key.code, user.pk, key.status)
    return key


@sensitive_variables()
def _check_and_store(key: ProviderKey, *, user: User, secret: str, unchanged: str) -> None:
    """Refuse a key-shaped label or a duplicate, ask the provider, then seal and save the row.

    `key` is a new row or the row being replaced; `unchanged` says what a refusal left as it was.
    """
    problem = label_problem(key.label, secret)
    if problem:
        raise KeyRejected(problem)
    fingerprint = fingerprint_for(key.provider, secret)
    existing = _duplicate_of(key.workspace, key.provider, fingerprint, exclude=key.pk)
    if existing:
        raise DuplicateKey(existing)
    # The provider call happens before any transaction: a slow provider must not hold database locks.
    if key.is_usage_key:
        verdict = check_usage_key_with_provider(key.provider, secret)
    else:
        verdict = check_with_provider(key.provider, secret)
    if verdict.status == Status.INVALID:
        raise KeyRejected(f"{verdict.message} {unchanged}")
    seal(key, secret)
    _apply(key, verdict)
    try:
        with transaction.atomic():
            key.save()
            _record_use(
                key, purpose=Purpose.VALIDATE, outcome=verdict.outcome, detail=verdict.message, actor=user
            )
    except IntegrityError:
        # Two tabs adding (or replacing with) the same key at once: the unique constraint decides.
        raise DuplicateKey(_duplicate_of(key.workspace, key.provider, fingerprint, exclude=key.pk)) from None


@sensitive_variables()
def retest_key(key: ProviderKey, *, user: User) -> Verdict:
    """Decrypt a saved key and ask its provider about it again; raise KeyUnavailable if it must be re-entered.

    Not for usage keys (WrongKind): those are decrypted only by a reconciliation.
    """
    secret, use = _open(key, purpose=Purpose.VALIDATE, actor=user)
    verdict = check_with_provider(key.provider, secret)
    del secret
    if not verdict.verified and verdict.outcome == Outcome.OK:
        # No free check at this provider: the key decrypted, which is all that can be said.
        label = providers.get(key.provider).label
        verdict = Verdict(
            key.status,
            Outcome.OK,
            STORED_INTACT.format(provider=label),
            verified=False,
        )
    KeyUse.objects.filter(pk=use.pk).update(outcome=verdict.outcome, detail=sanitize(verdict.message))
    if verdict.verified:
        _apply(key, verdict)
        key.save(update_fields=["status", "status_message", "last_verified_at", "updated_at"])
    logger.info("provider key %s re-tested by user %s: %s", key.code, user.pk, verdict.outcome)
    return verdict


def delete_key(key: ProviderKey, *, user: User) -> None:
    """Delete a key; its audit rows stay (with the label and hint copied)."""
    code, workspace, subject = key.code, key.workspace, f"{key.label} ({key.hint})"
    key.delete()
    audit.record(workspace, user, audit.Action.KEY_DELETED, subject)
    logger.info("provider key %s deleted by user %s", code, user.pk)


# The worker's side


def _open(
    key: ProviderKey,
    *,
    purpose: str,
    actor: User | None = None,
    generation_code: UUID | None = None,
    detail: str = "",
) -> tuple[str, KeyUse]:
    """Return the plaintext and its recorded use, or record the failure and raise KeyUnavailable.

    A key is opened only for what its kind is for (`PURPOSES`): anything else is WrongKind, before
    any decryption.
    """
    if purpose not in PURPOSES[Kind(key.kind)]:
        raise WrongKind(key, str(KeyUse.Purpose(purpose).label))
    try:
        secret = crypto.decrypt(key.ciphertext, key.binding())
    except crypto.DecryptionError as exc:
        _record_use(
            key,
            purpose=purpose,
            outcome=Outcome.UNDECRYPTABLE,
            detail=str(exc),
            actor=actor,
            generation_code=generation_code,
        )
        logger.warning("provider key %s could not be decrypted: %s", key.code, type(exc).__name__)
        raise KeyUnavailable() from None
    use = _record_use(
        key, purpose=purpose, outcome=Outcome.OK, actor=actor, generation_code=generation_code, detail=detail
    )
    return secret, use


@sensitive_variables()
def decrypt_for_provider_call(
    key: ProviderKey, *, generation_code: UUID | None, purpose: str = Purpose.GENERATE
) -> str:
    """Return the key's plaintext for one provider call, recording the use; raise KeyUnavailable.

    The only decrypt entry point for the worker: keep the result in a local variable of the call. A
    usage key is refused (WrongKind) without being decrypted.
    """
    if purpose not in Purpose.values:
        raise ValueError(f"unknown key-use purpose {purpose!r}")
    secret, _use = _open(key, purpose=purpose, generation_code=generation_code)
    return secret


@sensitive_variables()
def decrypt_usage_key(key: ProviderKey, *, detail: str = "") -> str:
    """Return a usage key's plaintext for one reconciliation, recording the use; raise KeyUnavailable.

    The only way a usage key is decrypted (besides rewrap_keys): a generation key is refused (WrongKind).
    """
    secret, _use = _open(key, purpose=Purpose.RECONCILE, detail=detail)
    return secret


def settle_usage_key(key: ProviderKey, *, ok: bool, rejected: bool, message: str) -> None:
    """Record what the provider said to a usage key's report call: it worked, or it was refused."""
    now = timezone.now()
    message = sanitize(message)
    if ok:
        fields = {
            "status": Status.VALID,
            "status_message": message,
            "last_used_at": now,
            "last_verified_at": now,
        }
        ProviderKey.objects.filter(pk=key.pk).update(**fields, use_count=F("use_count") + 1, updated_at=now)
    elif rejected:
        fields = {"status": Status.INVALID, "status_message": message, "last_verified_at": now}
        ProviderKey.objects.filter(pk=key.pk).update(**fields, updated_at=now)
    latest = (
        KeyUse.objects.filter(key=key, purpose=Purpose.RECONCILE, outcome=Outcome.OK)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if latest is not None and not ok:
        outcome = Outcome.REJECTED if rejected else Outcome.ERROR
        KeyUse.objects.filter(pk=latest).update(outcome=outcome, detail=message)


def _settle_latest_use(key: ProviderKey, generation_code: UUID | None, outcome: str, detail: str) -> None:
    """Record the provider's answer on the latest generation use of the key."""
    uses = KeyUse.objects.filter(key=key, purpose=Purpose.GENERATE, outcome=Outcome.OK)
    if generation_code is not None:
        uses = uses.filter(generation_code=generation_code)
    latest = uses.order_by("-created_at", "-id").values_list("pk", flat=True).first()
    if latest is not None:
        KeyUse.objects.filter(pk=latest).update(outcome=outcome, detail=detail)


def mark_key_rejected(key: ProviderKey, *, message: str, generation_code: UUID | None = None) -> None:
    """Mark a key invalid because its provider refused it (a 401 during a generation)."""
    now = timezone.now()
    message = sanitize(message)
    ProviderKey.objects.filter(pk=key.pk).update(
        status=Status.INVALID, status_message=message, last_verified_at=now, updated_at=now
    )
    key.status, key.status_message, key.last_verified_at, key.updated_at = Status.INVALID, message, now, now
    _settle_latest_use(key, generation_code, Outcome.REJECTED, message)
    logger.info("provider key %s marked invalid: its provider rejected it", key.code)


def mark_key_worked(key: ProviderKey) -> None:
    """Record a successful provider call: the key is valid (this is how a fal key is proven)."""
    now = timezone.now()
    # F(): concurrent workers using the same key must not lose each other's counts.
    fields = {
        "status": Status.VALID,
        "status_message": WORKED,
        "last_used_at": now,
        "last_verified_at": now,
        "updated_at": now,
    }
    ProviderKey.objects.filter(pk=key.pk).update(**fields, use_count=F("use_count") + 1)
    # No second query to read the row back: the stored count is exact, this object's counts our calls.
    for name, value in fields.items():
        setattr(key, name, value)
    key.use_count += 1


def usable_keys(workspace: Workspace, provider: str) -> QuerySet[ProviderKey]:
    """Return the workspace's keys for a provider that are not known to be invalid, best first."""
    rank = Case(
        When(status=Status.VALID, then=Value(0)),
        When(status=Status.RESTRICTED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        ProviderKey.objects.for_workspace(workspace)
        .filter(provider=provider, kind=Kind.GENERATE)
        .exclude(status=Status.INVALID)
        .select_related("workspace")
        .order_by(rank, F("last_used_at").desc(nulls_last=True), "-created_at")
    )


# Rotation


@dataclass
class RewrapReport:
    primary: int
    rewrapped: int = 0
    undecryptable: int = 0
    skipped: int = 0  # changed by someone else while we worked (already under the primary)
    by_version: dict[int, int] = field(default_factory=dict)


@sensitive_variables()
def rewrap_keys(*, batch_size: int = 200) -> RewrapReport:
    """Re-encrypt every key below the primary master-key version, in batches; safe to run again."""
    keyring = crypto.get_keyring()
    report = RewrapReport(primary=keyring.primary)
    last_pk = 0
    while True:
        batch = list(
            ProviderKey.objects.filter(key_version__lt=keyring.primary, pk__gt=last_pk)
            .select_related("workspace")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            break
        last_pk = batch[-1].pk
        uses = []
        for key in batch:
            use = KeyUse(
                key=key,
                workspace_id=key.workspace_id,
                provider=key.provider,
                key_label=key.label,
                key_hint=key.hint,
                purpose=Purpose.REWRAP,
                outcome=Outcome.OK,
            )
            try:
                secret = keyring.decrypt(key.ciphertext, key.binding())
            except crypto.DecryptionError as exc:
                report.undecryptable += 1
                use.outcome, use.detail = Outcome.UNDECRYPTABLE, sanitize(str(exc))
                uses.append(use)
                continue
            sealed = keyring.encrypt(secret, key.binding())
            del secret
            # Compare-and-set: a key replaced meanwhile already has a fresh ciphertext; keep that one.
            changed = ProviderKey.objects.filter(pk=key.pk, ciphertext=key.ciphertext).update(
                ciphertext=sealed, key_version=keyring.primary
            )
            if changed:
                report.rewrapped += 1
                uses.append(use)
            else:
                report.skipped += 1
        KeyUse.objects.bulk_create(uses)
    counts = ProviderKey.objects.values("key_version").annotate(n=Count("pk")).order_by("key_version")
    report.by_version = {row["key_version"]: row["n"] for row in counts}
    logger.info(
        "rewrap_keys: %d re-encrypted to v%d, %d undecryptable, %d skipped",
        report.rewrapped,
        report.primary,
        report.undecryptable,
        report.skipped,
    )
    return report
