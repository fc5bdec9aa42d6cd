"""Provider keys (encrypted, bound to their row) and the audit of every use."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

import providers
from accounts.models import Workspace, WorkspaceOwned, WorkspaceQuerySet
from keys import crypto


class ProviderKey(WorkspaceOwned):
    """A user's provider API key: only a ciphertext, a masked hint and an HMAC fingerprint are stored."""

    class Status(models.TextChoices):
        UNVERIFIED = "unverified", _("Unverified")
        VALID = "valid", _("Valid")
        RESTRICTED = "restricted", _("Restricted")
        INVALID = "invalid", _("Invalid")

    class Kind(models.TextChoices):
        # What the key is for, bound into its ciphertext's associated data (`binding`): a usage key can
        # never be decrypted as a generation key, and the worker refuses it before any provider call.
        GENERATE = "generate", _("Generation key")
        USAGE = "usage", _("Usage key (read-only)")

    # A provider adapter's name (providers.names()): validated against the registry, not `choices`, so a
    # new provider needs no migration.
    provider = models.CharField(max_length=20)
    label = models.CharField(_("label"), max_length=100)
    # `v{N}:{base64url(nonce ‖ ciphertext ‖ tag)}`, bound to (purpose, workspace, this row, provider).
    ciphertext = models.TextField()
    # The master-key version in `ciphertext`, kept beside it so rewrap_keys can select old rows by index.
    key_version = models.PositiveIntegerField(db_index=True)
    hint = models.CharField(max_length=40)
    # HMAC-SHA256 under ANIAVATAR_FINGERPRINT_KEY: detects the same key added twice without a bare hash.
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNVERIFIED)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GENERATE)
    status_message = models.CharField(max_length=300, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    use_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "fingerprint"], name="one_copy_of_a_key_per_workspace"
            ),
            models.UniqueConstraint(
                fields=["workspace", "provider"],
                condition=Q(kind="usage"),
                name="one_usage_key_per_provider",
            ),
        ]
        ordering = ["provider", "-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.provider_label} {self.hint})"

    @property
    def provider_label(self) -> str:
        """Return the provider's name as people know it ("OpenAI")."""
        return providers.get(self.provider).label

    @property
    def is_usage_key(self) -> bool:
        return self.kind == self.Kind.USAGE

    def binding(self) -> crypto.Binding:
        """Return what this row's ciphertext is bound to: its purpose (by kind), workspace, row, provider."""
        purpose = crypto.PURPOSE_USAGE_KEY if self.is_usage_key else crypto.PURPOSE_PROVIDER_KEY
        return crypto.Binding(
            workspace=self.workspace.code, key=self.code, provider=self.provider, purpose=purpose
        )

    def needs_reentry(self, latest_use: KeyUse | None) -> bool:
        """Return whether the user must paste this key again, without decrypting it (pages never do).

        Either its master-key version is gone or retired, or the last attempt to decrypt it failed (a
        ciphertext moved or damaged): every write of a ciphertext records a use, so a failed attempt
        recorded after it is about the ciphertext stored now.
        """
        if not crypto.get_keyring().has_version_of(self.ciphertext):
            return True
        return latest_use is not None and latest_use.outcome == KeyUse.Outcome.UNDECRYPTABLE


class KeyUse(models.Model):
    """One decryption of a key (validation, generation, rewrap); survives the key's deletion."""

    class Purpose(models.TextChoices):
        VALIDATE = "validate", _("Validation")
        GENERATE = "generate", _("Generation")
        REWRAP = "rewrap", _("Re-encryption")
        RECONCILE = "reconcile", _("Usage report")  # a usage key, read by a reconciliation
        PAYLOADS = "payloads", _("Payload deletion")  # a generation key, deleting what fal stored

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        REJECTED = "rejected", _("Rejected by the provider")
        RESTRICTED = "restricted", _("Restricted")
        UNREACHABLE = "unreachable", _("Provider unreachable")
        UNDECRYPTABLE = "undecryptable", _("Could not be decrypted")
        ERROR = "error", _("Error")

    key = models.ForeignKey(
        ProviderKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="uses"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    # Copied from the key so the audit still reads after the key is deleted.
    provider = models.CharField(max_length=20)
    key_label = models.CharField(max_length=100)
    key_hint = models.CharField(max_length=40)
    # A plain UUID, not a foreign key: generation depends on keys, not the other way round.
    generation_code = models.UUIDField(null=True, blank=True)
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    outcome = models.CharField(max_length=14, choices=Outcome.choices)
    detail = models.CharField(max_length=300, blank=True)  # sanitized
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["key", "-created_at"], name="keyuse_key_recent"),
            models.Index(fields=["workspace", "-created_at"], name="keyuse_workspace_recent"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} of {self.key_label} ({self.key_hint}): {self.outcome}"
