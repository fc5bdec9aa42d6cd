"""Users, workspaces (the tenants) and memberships."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Self

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.emails import canonical_email, email_key


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create a user who logs in with `email`."""
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        # Any spelling of the address finds its account (accounts/emails.py): never `iexact`, whose
        # PostgreSQL UPPER() also matches other addresses ("ısis" and "isis" are both "ISIS").
        return self.get(email=canonical_email(username or ""))

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create a staff superuser (for the admin)."""
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        user = self.create_user(email, password, **extra)
        # Made from the shell by whoever runs the server: the address counts as verified (a sign-up's is
        # confirmed by a code), so the admin can log in without mail set up.
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person; logs in with an email address."""

    email = models.EmailField(_("email address"), unique=True)
    # What lookups and uniqueness compare: email_key(email) (accounts/emails.py). Empty (NULL) only for an
    # account made before it existed whose key an older account already had (`report_email_collisions`).
    email_key = models.CharField(max_length=320, unique=True, null=True, editable=False)  # noqa: DJ001 (NULLs never collide)
    name = models.CharField(_("name"), max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Their choices (accounts/preferences.py): the pages' and emails' language, and the zone times are shown
    # in. Empty until chosen: the browser's language (Accept-Language) and the zone it reports apply.
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    def clean(self) -> None:
        """Store the email lower-cased, as sign-up does (the admin's forms call this)."""
        super().clean()
        self.email = type(self).objects.normalize_email(self.email).lower()
        others = type(self).objects.exclude(pk=self.pk)
        if self.email and others.filter(email_key=email_key(self.email)).exists():
            raise ValidationError(
                {"email": _("Another account already has this address, spelled otherwise.")}
            )

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A reported collision (NULL key) keeps its NULL until an operator changes its address.
        if self._state.adding or self.email_key is not None or "email" in (kwargs.get("update_fields") or ()):
            self.email_key = email_key(self.email)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "email" in update_fields:
                kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)

    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Workspace(models.Model):
    """A tenant: keys, personas, generations, images and costs all belong to one."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by the owner (D33): members without an authenticator app or passkey are sent to /accounts/2fa/
    # from every workspace page (accounts/http.py `workspace_required`).
    require_two_factor = models.BooleanField(_("require two-factor sign-in"), default=False)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a workspace, with a role (docs/decisions.md D33).

    owner: everything, including transferring ownership and deleting the workspace; admin: keys, budget,
    members and invitations (never the owner's membership); member: personas, generation, gallery, usage.
    Removing a membership never deletes the user: what they made stays attributed to them.
    """

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="one_membership_per_workspace")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER

    @property
    def is_admin(self) -> bool:
        """Whether this member may manage keys, the budget, members and invitations (owner or admin)."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Invitation(models.Model):
    """An invitation to join a workspace, mailed as a single-use link `/invitations/<token>/`.

    Only the SHA-256 of the token is stored: the link cannot be rebuilt from the database. Re-sending
    makes a new token (the old link stops working). Pending = not accepted, not revoked, not expired.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))  # as typed (mail goes there)
    email_key = models.CharField(max_length=320, editable=False)  # accounts/emails.py email_key
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "email_key"], name="invitation_workspace_email")]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace} ({self.role})"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and not self.is_expired


class AuditEntry(models.Model):
    """One thing someone did to a workspace's members, invitations, keys or budget (the /workspace/log/ page)."""

    class Action(models.TextChoices):
        INVITATION_SENT = "invitation_sent", _("Invitation sent")
        INVITATION_RESENT = "invitation_resent", _("Invitation re-sent")
        INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
        INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")
        MEMBER_JOINED = "member_joined", _("Member joined")
        MEMBER_REMOVED = "member_removed", _("Member removed")
        MEMBER_LEFT = "member_left", _("Member left")
        ROLE_CHANGED = "role_changed", _("Role changed")
        OWNERSHIP_TRANSFERRED = "ownership_transferred", _("Ownership transferred")
        WORKSPACE_CREATED = "workspace_created", _("Workspace created")
        KEY_ADDED = "key_added", _("Key added")
        KEY_REPLACED = "key_replaced", _("Key replaced")
        KEY_DELETED = "key_deleted", _("Key deleted")
        BUDGET_CHANGED = "budget_changed", _("Budget changed")
        LIMIT_CHANGED = "limit_changed", _("Spend limit changed")
        TWO_FACTOR_CHANGED = "two_factor_changed", _("Two-factor requirement changed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    subject = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="audit_workspace_newest")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.subject}"


class WorkspaceQuerySet[M: models.Model](models.QuerySet[M]):
    """Every tenant-scoped query starts here, so forgetting the workspace is hard to do."""

    def for_workspace(self, workspace: Workspace) -> Self:
        return self.filter(workspace=workspace)


class WorkspaceOwned(models.Model):
    """Base for tenant data: a workspace, the user who acted, and a public UUID for URLs."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        abstract = True
