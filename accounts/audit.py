"""The workspace's audit log: who did what to its members, invitations, keys and budget (/workspace/log/)."""

from __future__ import annotations

from accounts.models import AuditEntry, User, Workspace

Action = AuditEntry.Action


def record(workspace: Workspace, actor: User | None, action: str, subject: str = "") -> AuditEntry:
    """Add one entry to `workspace`'s log. `subject` names what was acted on (an address, a key's label)."""
    return AuditEntry.objects.create(workspace=workspace, actor=actor, action=action, subject=subject[:300])
