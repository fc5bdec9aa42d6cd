from django.core.management.base import BaseCommand

from generation.tasks import sweep_stale_generations


class Command(BaseCommand):
    help = "Finish or resume generations whose worker vanished (also runs every minute under celery beat)."

    def handle(self, *args: object, **options: object) -> None:
        counts = sweep_stale_generations()
        self.stdout.write(" ".join(f"{name}={count}" for name, count in counts.items()))
