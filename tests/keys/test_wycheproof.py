"""Project Wycheproof's AES-GCM vectors through the wrapper's own primitive and parameters.

The vectors are vendored in `data/wycheproof/` with their schema, licence (Apache-2.0) and attribution
(README, NOTICE: source repository, commit and paths). Their SHA-256 is recorded here, so a copy that an
editor, a line-ending conversion or a partial update changed fails instead of testing something else.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from keys import crypto

DATA = Path(__file__).parent / "data" / "wycheproof"
VECTORS = DATA / "aes_gcm_test.json"
SCHEMA = DATA / "aead_test_schema_v1.json"
# Upstream commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166 (data/wycheproof/README.md).
SHA256 = {
    VECTORS.name: "985e5ecc172e181eaf49e89508b9470dcf478002eb7e8559c707eb42dc97dfe7",
    SCHEMA.name: "6c530fa1dc0376d3d1f826112383959a791d169ed31012ead30625b33e829a62",
}
HEX_FIELDS = ("key", "iv", "aad", "msg", "ct", "tag")


def _group() -> dict:
    data = json.loads(VECTORS.read_text())
    groups = [
        g for g in data["testGroups"] if g["keySize"] == 256 and g["ivSize"] == 96 and g["tagSize"] == 128
    ]
    assert len(groups) == 1
    return groups[0]


GROUP = _group()
CASES = GROUP["tests"]


@pytest.mark.parametrize("name", sorted(SHA256))
def test_the_vendored_files_are_the_recorded_upstream_copies(name):
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == SHA256[name]


def test_the_licence_and_attribution_travel_with_the_vectors():
    assert "Apache License" in (DATA / "LICENSE").read_text()
    assert "Version 2.0" in (DATA / "LICENSE").read_text()
    notice = (DATA / "NOTICE").read_text()
    assert "Copyright 2016 Google" in notice
    assert "dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166" in notice


def test_the_group_and_its_tests_have_the_fields_the_schema_requires():
    definitions = json.loads(SCHEMA.read_text())["definitions"]
    assert json.loads(VECTORS.read_text())["schema"] == SCHEMA.name
    assert set(definitions["AeadTestGroup"]["required"]) <= set(GROUP)
    vector = definitions["AeadTestVector"]
    assert set(HEX_FIELDS) <= {
        f for f, spec in vector["properties"].items() if spec.get("format") == "HexBytes"
    }
    for case in CASES:
        assert set(vector["required"]) <= set(case) <= set(vector["properties"]), case["tcId"]


def test_the_group_matches_the_wrappers_parameters():
    assert GROUP["keySize"] == crypto.KEY_BYTES * 8
    assert GROUP["ivSize"] == crypto.NONCE_BYTES * 8
    assert GROUP["tagSize"] == crypto.TAG_BYTES * 8
    assert len(CASES) == 66
    assert {case["result"] for case in CASES} == {"valid", "invalid"}


def _fields(case: dict) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(case[name]) for name in HEX_FIELDS)


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
