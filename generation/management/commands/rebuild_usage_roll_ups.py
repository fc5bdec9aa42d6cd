from django.core.management.base import BaseCommand

from generation.usage.roll_ups import rebuild_roll_ups


class Command(BaseCommand):
    help = "Recompute the monthly usage roll-ups from the cost records (after a restore or a manual fix)."

    def handle(self, *args: object, **options: object) -> None:
        rows = rebuild_roll_ups()
        self.stdout.write(f"roll-up rows={rows}")
