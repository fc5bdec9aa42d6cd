from typing import Any

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def _create_cache_table(using: str = "default", **kwargs: Any) -> None:
    """Every `migrate` also creates the cache's table when the cache is the database (settings CACHES).

    Rate limits and two-factor replay protection live in the cache; without its table every login would
    fail. Nothing to do with Redis (CACHE_URL), and nothing when the table exists.
    """
    call_command("createcachetable", database=using, verbosity=0)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspaces"

    def ready(self) -> None:
        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="accounts.create_cache_table")
