"""The key vault's cost per operation, through keys.crypto's public API (no database)."""

from __future__ import annotations

import time
import uuid

from bench.harness import Report, log

SECRET = "sk-proj-bench" + "0123456789abcdefghijklmnopqrstuvwxyz" * 4  # as long as a real project key


def run_vault(report: Report, *, n: int = 20_000) -> None:
    """Measure encrypt and decrypt in µs per operation (the best of three rounds of `n`)."""
    from keys import crypto

    binding = crypto.Binding(workspace=uuid.uuid4(), key=uuid.uuid4(), provider="openai")
    crypto.get_keyring()  # parse the master keys outside the timing
    log(f"vault: 3 × {n} encryptions and decryptions")
    stored = crypto.encrypt(SECRET, binding)
    encrypt_us, decrypt_us = [], []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            stored = crypto.encrypt(SECRET, binding)
        encrypt_us.append((time.perf_counter() - started) * 1e6 / n)
        started = time.perf_counter()
        for _ in range(n):
            crypto.decrypt(stored, binding)
        decrypt_us.append((time.perf_counter() - started) * 1e6 / n)
    report.add("vault", "encrypt_us_per_op", min(encrypt_us))
    report.add("vault", "decrypt_us_per_op", min(decrypt_us))
