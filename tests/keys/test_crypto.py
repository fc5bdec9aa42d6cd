"""AES-256-GCM wrapper: stored form, fresh nonces, row binding, master-key versions."""

from __future__ import annotations

import base64
import inspect
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from keys import crypto
from tests.support.keys import MASTER_V1, MASTER_V2, OPENAI_KEY

ROOT = Path(__file__).resolve().parents[2]


def binding(**changes: object) -> crypto.Binding:
    fields = {
        "workspace": uuid.UUID("11111111-1111-4111-8111-111111111111"),
        "key": uuid.UUID("22222222-2222-4222-8222-222222222222"),
        "provider": "openai",
    }
    fields.update(changes)
    return crypto.Binding(**fields)


def keyring(spec: str = f"1:{MASTER_V1}", primary: int = 0, min_version: int = 0) -> crypto.Keyring:
    return crypto.build_keyring(spec, primary, min_version)


def blob_of(stored: str) -> bytes:
    return crypto.parse_stored(stored)[1]


def test_it_round_trips_a_key():
    ring = keyring()
    assert ring.decrypt(ring.encrypt(OPENAI_KEY, binding()), binding()) == OPENAI_KEY


def test_the_stored_form_is_a_version_and_unpadded_base64url_of_nonce_ciphertext_and_tag():
    stored = keyring().encrypt(OPENAI_KEY, binding())
    assert re.fullmatch(r"v1:[A-Za-z0-9_-]+", stored)
    assert len(blob_of(stored)) == 12 + len(OPENAI_KEY) + 16
    assert OPENAI_KEY not in stored


def test_ten_thousand_encryptions_use_ten_thousand_distinct_nonces():
    ring = keyring()
    stored = [ring.encrypt(OPENAI_KEY, binding()) for _ in range(10_000)]
    nonces = {blob_of(value)[:12] for value in stored}
    assert len(nonces) == 10_000
    assert len(set(stored)) == 10_000


def test_callers_cannot_pass_a_nonce():
    for function in (crypto.encrypt, crypto.seal, crypto.Keyring.encrypt):
        assert not any("nonce" in name or name == "iv" for name in inspect.signature(function).parameters)


def test_flipping_any_byte_of_the_sealed_value_fails():
    ring = keyring()
    stored = ring.encrypt(OPENAI_KEY, binding())
    blob = blob_of(stored)
    for position in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(blob)
            damaged[position] ^= mask
            text = "v1:" + base64.urlsafe_b64encode(bytes(damaged)).rstrip(b"=").decode()
            with pytest.raises(crypto.TamperedCiphertext):
                ring.decrypt(text, binding())


def test_changing_any_character_of_the_stored_text_fails():
    ring = keyring()
    stored = ring.encrypt(OPENAI_KEY, binding())
    for position in range(len(stored)):
        for replacement in {"A", "B", "_", "-", "=", " ", "v"} - {stored[position]}:
            damaged = stored[:position] + replacement + stored[position + 1 :]
            with pytest.raises(crypto.DecryptionError):
                ring.decrypt(damaged, binding())


def test_truncated_or_extended_values_fail():
    ring = keyring()
    stored = ring.encrypt(OPENAI_KEY, binding())
    for damaged in (stored[:-1], stored[:-4], stored + "A", stored + "AAAA", "v1:" + stored[7:]):
        with pytest.raises(crypto.DecryptionError):
            ring.decrypt(damaged, binding())


@pytest.mark.parametrize(
    "change",
    [
        {"workspace": uuid.UUID("11111111-1111-4111-8111-111111111112")},
        {"key": uuid.UUID("22222222-2222-4222-8222-222222222223")},
        {"provider": "fal"},
        {"purpose": "webhook-secret"},
    ],
    ids=["another workspace", "another row", "another provider", "another purpose"],
)
def test_a_ciphertext_moved_to_another_binding_fails(change):
    ring = keyring()
    stored = ring.encrypt(OPENAI_KEY, binding())
    with pytest.raises(crypto.TamperedCiphertext):
        ring.decrypt(stored, binding(**change))


def test_uuid_spelling_does_not_change_the_binding():
    code = uuid.UUID("22222222-2222-4222-8222-222222222222")
    assert binding(key=code).associated_data() == binding(key=str(code).upper()).associated_data()


def test_the_associated_data_cannot_be_ambiguous_between_fields():
    a = binding(purpose="provider-key", provider="openai")
    b = binding(purpose="provider-keyo", provider="penai")
    assert a.associated_data() != b.associated_data()


text = st.text(max_size=12)
uuids = st.uuids()


@given(purpose=st.tuples(text, text), provider=st.tuples(text, text), workspace=st.tuples(uuids, uuids))
def test_different_bindings_never_share_associated_data(purpose, provider, workspace):
    first = crypto.Binding(workspace=workspace[0], key=workspace[1], provider=provider[0], purpose=purpose[0])
    second = crypto.Binding(
        workspace=workspace[1], key=workspace[0], provider=provider[1], purpose=purpose[1]
    )
    if first != second:
        assert first.associated_data() != second.associated_data()


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_master_keys_must_be_exactly_32_bytes(size):
    encoded = base64.b64encode(os.urandom(size)).decode()
    with pytest.raises(ImproperlyConfigured, match="exactly 32") as caught:
        keyring(f"1:{encoded}")
    if encoded:
        assert encoded not in str(caught.value)


def test_the_primitive_refuses_a_short_key():
    with pytest.raises(ImproperlyConfigured):
        crypto.aead(b"x" * 16)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        " , ",
        "1",
        f"x:{MASTER_V1}",
        f"0:{MASTER_V1}",
        f"-1:{MASTER_V1}",
        "1:not base64!",
        f"1:{MASTER_V1},1:{MASTER_V2}",
    ],
)
def test_malformed_master_key_settings_are_refused_without_quoting_the_keys(spec):
    with pytest.raises(ImproperlyConfigured) as caught:
        keyring(spec)
    assert MASTER_V1 not in str(caught.value)
    assert MASTER_V2 not in str(caught.value)


def test_urlsafe_base64_master_keys_are_accepted():
    urlsafe = base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("=")
    assert keyring(f"1:{urlsafe}").keys[1] == bytes(range(200, 232))


def test_primary_zero_means_the_highest_version():
    ring = keyring(f"1:{MASTER_V1}, 2:{MASTER_V2}")
    assert ring.primary == 2
    assert ring.encrypt(OPENAI_KEY, binding()).startswith("v2:")


def test_a_lower_primary_keeps_a_new_version_decrypt_only():
    ring = keyring(f"1:{MASTER_V1},2:{MASTER_V2}", primary=1)
    assert ring.encrypt(OPENAI_KEY, binding()).startswith("v1:")
    promoted = keyring(f"1:{MASTER_V1},2:{MASTER_V2}", primary=2)
    assert ring.decrypt(promoted.encrypt(OPENAI_KEY, binding()), binding()) == OPENAI_KEY


def test_the_primary_must_be_configured_and_not_retired():
    with pytest.raises(ImproperlyConfigured, match="not configured"):
        keyring(f"1:{MASTER_V1}", primary=2)
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        keyring(f"1:{MASTER_V1},2:{MASTER_V2}", primary=1, min_version=2)


def test_an_unknown_version_is_its_own_error():
    stored = keyring(f"1:{MASTER_V1},2:{MASTER_V2}").encrypt(OPENAI_KEY, binding())
    with pytest.raises(crypto.UnknownKeyVersion):
        keyring(f"1:{MASTER_V1}").decrypt(stored, binding())


def test_a_retired_version_is_its_own_error_even_while_its_key_is_configured():
    stored = keyring(f"1:{MASTER_V1}").encrypt(OPENAI_KEY, binding())
    with pytest.raises(crypto.RetiredKeyVersion):
        keyring(f"1:{MASTER_V1},2:{MASTER_V2}", min_version=2).decrypt(stored, binding())


def test_the_three_failures_are_distinct_but_share_a_base():
    kinds = (crypto.TamperedCiphertext, crypto.UnknownKeyVersion, crypto.RetiredKeyVersion)
    assert all(issubclass(kind, crypto.DecryptionError) for kind in kinds)
    assert len({kind for kind in kinds}) == 3
    assert not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "v1",
        "v1:",
        "1:AAAA",
        "v0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1:****",
        "v1:AAAA",
        "V1:AAAA",
    ],
)
def test_malformed_stored_values_are_tampering(stored):
    with pytest.raises(crypto.TamperedCiphertext):
        keyring().decrypt(stored, binding())


def test_a_non_canonical_base64_spelling_is_refused():
    stored = keyring().encrypt(OPENAI_KEY + "x", binding())
    assert len(blob_of(stored)) % 3 != 0  # so the last character has unused bits
    # The final character carries unused low bits; changing only those must not be accepted.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(stored[-1])
    twin = stored[:-1] + alphabet[last ^ 1]
    assert base64.urlsafe_b64decode(twin[3:] + "==") == blob_of(stored)
    with pytest.raises(crypto.TamperedCiphertext):
        keyring().decrypt(twin, binding())


def test_the_keyring_follows_settings_changes(settings):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1}"
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 0
    assert crypto.encrypt(OPENAI_KEY, binding()).startswith("v1:")
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    stored = crypto.encrypt(OPENAI_KEY, binding())
    assert stored.startswith("v2:")
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 1
    assert crypto.encrypt(OPENAI_KEY, binding()).startswith("v1:")
    assert crypto.decrypt(stored, binding()) == OPENAI_KEY


def _manage_check(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "ANIAVATAR_", "DEBUG"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_app_refuses_to_start_with_a_short_master_key():
    short = base64.b64encode(b"k" * 16).decode()
    result = _manage_check(DEBUG="false", ANIAVATAR_MASTER_KEYS=f"1:{short}")
    assert result.returncode != 0
    assert "exactly 32 bytes" in result.stderr
    assert short not in result.stderr + result.stdout


def test_the_app_refuses_to_start_without_a_master_key_when_debug_is_off():
    result = _manage_check(DEBUG="false")
    assert result.returncode != 0
    assert "ANIAVATAR_MASTER_KEYS must be set" in result.stderr
