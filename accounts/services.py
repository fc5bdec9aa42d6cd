"""Account actions that write several models."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Membership, User, Workspace


@transaction.atomic
def create_account(*, email: str, password: str, name: str = "") -> User:
    """Create a user, their personal workspace and the owner membership, all or nothing."""
    user = User.objects.create_user(email=email, password=password, name=name)
    label = name or user.email.split("@")[0]
    workspace = Workspace.objects.create(name=f"{label}'s workspace"[:100])
    Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.OWNER)
    return user
