"""Account actions that write several models."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts.models import Membership, User, Workspace


def create_personal_workspace(user: User) -> Workspace:
    """Give a new user their own workspace, which they own."""
    label = user.name or user.email.split("@")[0]
    workspace = Workspace.objects.create(name=f"{label}'s workspace"[:100])
    Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.OWNER)
    return workspace


@transaction.atomic
def create_account(*, email: str, password: str, name: str = "", verified: bool = True) -> User:
    """Create a user with their email address, personal workspace and owner membership, all or nothing.

    For accounts made by us (the demo, tests, scripts): sign-up goes through django-allauth, whose
    adapter (accounts/adapter.py) calls `create_personal_workspace` and which verifies the address itself.
    """
    user = User.objects.create_user(email=email, password=password, name=name)
    EmailAddress.objects.create(user=user, email=user.email, verified=verified, primary=True)
    create_personal_workspace(user)
    return user
