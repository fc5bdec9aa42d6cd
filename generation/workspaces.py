"""Deleting a workspace: every row of it and every file it stored (the owner's last word, D33)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Membership, User, Workspace
from generation.models import CostRecord, GeneratedImage, Generation, PersonaReference, Reconciliation

logger = logging.getLogger(__name__)


class CannotDelete(Exception):
    """Why the workspace cannot go yet; safe to show. Nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_deletable(workspace: Workspace, owner: User) -> None:
    """Raise CannotDelete while work is in flight, or when it is the owner's only workspace."""
    if (
        Generation.objects.for_workspace(workspace)
        .filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING])
        .exists()
    ):
        raise CannotDelete(_("Generations are still in progress: wait for them or cancel them first."))
    if Reconciliation.objects.for_workspace(workspace).filter(status=Reconciliation.Status.RUNNING).exists():
        raise CannotDelete(_("A reconciliation is running: wait for it to finish first."))
    if not Membership.objects.filter(user=owner).exclude(workspace=workspace).exists():
        raise CannotDelete(_("This is your only workspace: create another one first."))


def delete_workspace(workspace: Workspace, owner: User) -> None:
    """Delete the workspace with everything in it; its image files once that is committed."""
    check_deletable(workspace, owner)
    images = GeneratedImage.objects.filter(workspace=workspace)
    files = [
        (field.storage, field.name)
        for image in images
        for field in (image.file, image.thumbnail)
        if field.name
    ]
    files += [
        (ref.file.storage, ref.file.name)
        for ref in PersonaReference.objects.filter(workspace=workspace)
        if ref.file.name
    ]
    with transaction.atomic():
        # Cost records protect their generation (no generation loses its charge): they go first, here.
        CostRecord.objects.for_workspace(workspace).delete()
        workspace.delete()

    def remove_files() -> None:
        for storage, name in files:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("could not delete image file %s", name, exc_info=True)

    transaction.on_commit(remove_files)
    logger.info("workspace %s deleted by user %s (%d files)", workspace.code, owner.pk, len(files))
