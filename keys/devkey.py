"""Development master key: generated once into a git-ignored file so `make run` needs no setup.

Production must pass ANIAVATAR_MASTER_KEYS; settings refuse to start without it when DEBUG is off.
This module is imported by settings, so it must not import Django models.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path


def load_or_create_dev_master_keys(path: Path) -> str:
    """Return `1:<base64 key>` from `path`, creating the file (mode 0600) the first time."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = "1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    # O_EXCL: two processes starting together (web + worker) must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    print(
        f"WARNING: no ANIAVATAR_MASTER_KEYS set; generated a development master key in {path}. "
        "Keep it: provider keys saved with it cannot be read without it. Never use this in production.",
        file=sys.stderr,
    )
    return value
