"""The development master key: generated once, mode 0600, a usable 32-byte key."""

from __future__ import annotations

import stat

from keys import crypto
from keys.devkey import load_or_create_dev_master_keys


def test_it_creates_a_private_key_file_once(tmp_path, capsys):
    path = tmp_path / "var" / "master.key"
    value = load_or_create_dev_master_keys(path)
    assert "WARNING" in capsys.readouterr().err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_dev_master_keys(path) == value
    assert capsys.readouterr().err == ""
    keyring = crypto.build_keyring(value)
    assert keyring.versions == [1]
    assert value not in capsys.readouterr().err


def test_the_file_is_git_ignored():
    from pathlib import Path

    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "var/" in ignored
