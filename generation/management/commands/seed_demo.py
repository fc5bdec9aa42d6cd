"""Create the demo account with provider keys pre-filled (for `make demo`, against the provider double)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, User
from accounts.services import create_account
from generation.models import Persona
from keys import services as vault
from keys.models import ProviderKey

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo passphrase 42"  # noqa: S105 - a published demo credential, offline only
# Fake keys the provider double accepts; they are worthless anywhere else.
DEMO_KEYS = {
    "openai": "sk-proj-DEMO0000000000000000000000000000000000000demo",
    "fal": "00000000-0000-4000-8000-000000000000:0000000000000000demo0000000000000",
}


class Command(BaseCommand):
    help = "Create demo@example.com with demo keys and two personas (only when providers point at a local double)."

    def handle(self, *args: object, **options: object) -> None:
        for url in (settings.OPENAI_BASE_URL, settings.FAL_QUEUE_URL):
            if not url.startswith(("http://127.0.0.1", "http://localhost")):
                raise CommandError("The demo only runs against the local provider double (make demo).")
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = create_account(email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo")
        workspace = Membership.objects.get(user=user, role=Membership.Role.OWNER).workspace
        for provider, secret in DEMO_KEYS.items():
            if not ProviderKey.objects.for_workspace(workspace).filter(provider=provider).exists():
                vault.add_key(
                    workspace=workspace,
                    user=user,
                    provider=provider,
                    label=f"Demo {provider} key",
                    secret=secret,
                )
        if not Persona.objects.for_workspace(workspace).exists():
            Persona.objects.create(
                workspace=workspace,
                created_by=user,
                name="Ana Ruiz",
                role="café owner",
                age_range="30-44",
                appearance="curly dark hair, freckles",
                expression="warm smile",
                clothing="linen apron",
                setting="sunlit café",
                art_style=Persona.ArtStyle.ILLUSTRATION,
            )
            Persona.objects.create(
                workspace=workspace,
                created_by=user,
                name="Sam Okafor",
                role="IT administrator",
                age_range="45-64",
                appearance="short grey beard, glasses",
                expression="focused",
                clothing="navy hoodie",
                setting="plain studio backdrop",
                art_style=Persona.ArtStyle.PHOTO,
            )
        self.stdout.write(f"Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}")
