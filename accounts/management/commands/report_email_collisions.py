"""List accounts whose addresses are one address once normalised (accounts/collisions.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.collisions import assign_keys, describe
from accounts.models import User


class Command(BaseCommand):
    help = (
        "Report accounts whose email addresses collide once normalised (NFKC + case fold); changes nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        users = User.objects.order_by("date_joined", "pk").only("pk", "email", "email_key")
        # Report only: a save() that does nothing keeps this read-only.
        found = [describe(collision) for collision in assign_keys(users.iterator(), lambda user: None)]
        for line in found:
            self.stdout.write(line)
        self.stdout.write(f"{len(found)} collision(s).")
