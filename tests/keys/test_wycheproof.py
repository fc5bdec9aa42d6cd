"""Project Wycheproof's AES-GCM vectors through the wrapper's own primitive and parameters.

The vectors are read from the team's shared folder beside the project (`../shared/testvectors/
wycheproof/`). `data/wycheproof/` holds a byte-identical copy with its README (source commit and
licence) for checkouts without that folder, such as a container build; where both exist they must match.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keys import crypto

SHARED = Path(__file__).resolve().parents[3] / "shared" / "testvectors" / "wycheproof" / "aes_gcm_test.json"
COPY = Path(__file__).parent / "data" / "wycheproof" / "aes_gcm_test.json"
VECTORS = SHARED if SHARED.exists() else COPY


def _group() -> dict:
    data = json.loads(VECTORS.read_text())
    groups = [
        g for g in data["testGroups"] if g["keySize"] == 256 and g["ivSize"] == 96 and g["tagSize"] == 128
    ]
    assert len(groups) == 1
    return groups[0]


GROUP = _group()
CASES = GROUP["tests"]


@pytest.mark.skipif(not SHARED.exists(), reason="no shared folder beside this checkout")
def test_the_copy_is_the_shared_file():
    assert COPY.read_bytes() == SHARED.read_bytes()


def test_the_group_matches_the_wrappers_parameters():
    assert GROUP["keySize"] == crypto.KEY_BYTES * 8
    assert GROUP["ivSize"] == crypto.NONCE_BYTES * 8
    assert GROUP["tagSize"] == crypto.TAG_BYTES * 8
    assert len(CASES) == 66
    assert {case["result"] for case in CASES} == {"valid", "invalid"}


def _fields(case: dict) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(case[name]) for name in ("key", "iv", "aad", "msg", "ct", "tag"))


@pytest.mark.parametrize("case", [c for c in CASES if c["result"] == "valid"], ids=lambda c: f"tc{c['tcId']}")
def test_every_valid_vector_seals_and_opens(case, monkeypatch):
    key, iv, aad, msg, ct, tag = _fields(case)
    primitive = crypto.aead(key)
    assert crypto.open_sealed(primitive, iv + ct + tag, aad) == msg
    # seal() draws its own nonce; pin it to the vector's to compare the bytes it produces.
    monkeypatch.setattr(crypto, "_new_nonce", lambda: iv)
    assert crypto.seal(primitive, msg, aad) == iv + ct + tag


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["result"] == "invalid"], ids=lambda c: f"tc{c['tcId']}"
)
def test_every_invalid_vector_is_rejected(case):
    key, iv, aad, _msg, ct, tag = _fields(case)
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.open_sealed(crypto.aead(key), iv + ct + tag, aad)
