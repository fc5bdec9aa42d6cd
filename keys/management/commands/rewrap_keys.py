"""Re-encrypt every provider key below the primary master-key version (README "Rotating the master key")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import services


class Command(BaseCommand):
    help = "Re-encrypt every provider key under the primary master key, in batches. Prints counts only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="rows per batch (default 200)")

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        report = services.rewrap_keys(batch_size=batch_size)
        self.stdout.write(f"Primary master key version: {report.primary}")
        self.stdout.write(f"Re-encrypted: {report.rewrapped}")
        self.stdout.write(f"Changed meanwhile (already current): {report.skipped}")
        self.stdout.write(f"Could not be decrypted: {report.undecryptable}")
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(report.by_version.items())) or "none"
        self.stdout.write(f"Keys per version now: {versions}")
        if report.undecryptable:
            # Not an error of this run, but the old version must not be retired while these rows exist.
            raise CommandError(
                f"{report.undecryptable} key(s) could not be decrypted and stay on an old version; their owners "
                "must re-enter them (Settings → API keys). Do not raise the minimum version until they have."
            )
        self.stdout.write(self.style.SUCCESS("Done."))
