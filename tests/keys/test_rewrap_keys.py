"""Master-key rotation end to end: decrypt-only → promote → rewrap_keys → retire the old version."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from keys import crypto, services
from keys.models import KeyUse, ProviderKey
from tests.support.keys import FAL_KEY, MASTER_V1, MASTER_V2, make_key

SECRETS = [FAL_KEY.replace("9f0e", f"{n:04d}") for n in range(5)]


def rewrap(*args: str) -> str:
    out = io.StringIO()
    call_command("rewrap_keys", *args, stdout=out)
    return out.getvalue()


def decrypts_all() -> dict[str, str]:
    return {
        key.label: crypto.decrypt(key.ciphertext, key.binding())
        for key in ProviderKey.objects.select_related("workspace")
    }


def test_rotation_end_to_end(alice, charlie, settings):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1}"
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 0
    for n, secret in enumerate(SECRETS):
        owner = alice if n % 2 else charlie
        make_key(owner, "fal", label=f"key {n}", secret=secret)
    expected = {f"key {n}": secret for n, secret in enumerate(SECRETS)}
    assert set(ProviderKey.objects.values_list("key_version", flat=True)) == {1}

    # Phase 1: v2 deployed decrypt-only everywhere; v1 still encrypts.
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 1
    extra = make_key(alice, "fal", label="key extra", secret=FAL_KEY.replace("9f0e", "eeee"))
    expected["key extra"] = FAL_KEY.replace("9f0e", "eeee")
    assert extra.ciphertext.startswith("v1:")
    assert "Re-encrypted: 0" in rewrap()  # nothing is below the primary yet

    # Phase 2: promote v2 (0 = the highest); new keys use it, old ones still open.
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 0
    newest = make_key(alice, "fal", label="key newest", secret=FAL_KEY.replace("9f0e", "ffff"))
    expected["key newest"] = FAL_KEY.replace("9f0e", "ffff")
    assert newest.ciphertext.startswith("v2:")
    assert decrypts_all() == expected
    leftover = ProviderKey.objects.get(label="key 0").ciphertext

    # Phase 3: rewrap, in small batches.
    output = rewrap("--batch-size", "2")
    assert "Primary master key version: 2" in output
    assert "Re-encrypted: 6" in output
    assert "Keys per version now: v2: 7" in output
    assert not ProviderKey.objects.filter(key_version=1).exists()
    assert not ProviderKey.objects.filter(ciphertext__startswith="v1:").exists()
    assert decrypts_all() == expected
    assert KeyUse.objects.filter(purpose="rewrap", outcome="ok").count() == 6
    # Counts only: no key material, no ciphertext.
    for secret in expected.values():
        assert secret not in output
    assert not any(key.ciphertext[3:20] in output for key in ProviderKey.objects.all())

    # Idempotent.
    assert "Re-encrypted: 0" in rewrap()
    assert KeyUse.objects.filter(purpose="rewrap").count() == 6

    # Phase 4: retire v1. A leftover v1 value (e.g. restored from an old backup) is refused.
    settings.ANIAVATAR_MASTER_KEY_MIN_VERSION = 2
    assert decrypts_all() == expected
    row = ProviderKey.objects.select_related("workspace").get(label="key 0")
    with pytest.raises(crypto.RetiredKeyVersion):
        crypto.decrypt(leftover, row.binding())
    ProviderKey.objects.filter(pk=row.pk).update(ciphertext=leftover, key_version=1)
    row.refresh_from_db()
    with pytest.raises(services.KeyUnavailable):
        services.decrypt_for_provider_call(row, generation_code=None)


def test_it_counts_rows_it_cannot_decrypt_and_says_not_to_retire_yet(alice, settings):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1}"
    good = make_key(alice, "fal", label="good")
    bad = make_key(alice, "fal", label="bad", secret=SECRETS[1])
    ProviderKey.objects.filter(pk=bad.pk).update(ciphertext=good.ciphertext)
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    out = io.StringIO()
    with pytest.raises(CommandError, match="Do not raise the minimum version"):
        call_command("rewrap_keys", stdout=out)
    assert "Re-encrypted: 1" in out.getvalue()
    assert "Could not be decrypted: 1" in out.getvalue()
    assert KeyUse.objects.filter(purpose="rewrap", outcome="undecryptable").count() == 1


def test_it_keeps_a_key_replaced_while_it_runs(alice, settings, monkeypatch):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1}"
    key = make_key(alice, "fal")
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    real_encrypt = crypto.Keyring.encrypt

    def replaced_meanwhile(self, plaintext, binding):
        # Someone replaces the key between rewrap's read and its write.
        fresh = ProviderKey.objects.select_related("workspace").get(pk=key.pk)
        replacement = real_encrypt(self, SECRETS[3], fresh.binding())
        ProviderKey.objects.filter(pk=key.pk).update(ciphertext=replacement, key_version=self.primary)
        return real_encrypt(self, plaintext, binding)

    monkeypatch.setattr(crypto.Keyring, "encrypt", replaced_meanwhile)
    report = services.rewrap_keys()
    monkeypatch.undo()
    assert (report.rewrapped, report.skipped) == (0, 1)
    fresh = ProviderKey.objects.select_related("workspace").get()
    assert crypto.decrypt(fresh.ciphertext, fresh.binding()) == SECRETS[3]


def test_the_batch_size_must_be_positive(db):
    with pytest.raises(CommandError):
        call_command("rewrap_keys", "--batch-size", "0", stdout=io.StringIO())
