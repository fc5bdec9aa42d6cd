"""Compare the prices the providers publish (as the latest reconciliations read them) with the catalog."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from generation import catalog
from generation.reconciliation.prices import latest_drift


class Command(BaseCommand):
    help = (
        "Compare the providers' published prices (read by the daily reconciliation with a workspace's usage "
        "key) with generation/catalog.toml; print each difference and exit 1 when there is one."
    )

    def handle(self, *args: object, **options: object) -> None:
        drift = latest_drift()
        version = catalog.load().version
        if not drift:
            self.stdout.write(
                f"No price drift: the catalog ({version}) matches every price the providers published."
            )
            return
        self.stdout.write(f"Price drift against the catalog ({version}):")
        for entry in drift:
            self.stdout.write(f"  {entry.describe()}")
        self.stdout.write(
            "Update generation/catalog.toml (and its price_table_version) after checking the provider's page."
        )
        raise CommandError(f"{len(drift)} price(s) differ from the catalog.", returncode=1)
