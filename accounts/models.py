"""Users, workspaces (the tenants) and memberships."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Self

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

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MEMBER = "member", _("Member")

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
