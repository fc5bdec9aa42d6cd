"""Personas, generations, their images and cost records. All belong to a workspace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace, WorkspaceOwned, WorkspaceQuerySet
from generation.money import format_usd


class Persona(WorkspaceOwned):
    """A described person for whom avatars are generated; its fields build the prompt."""

    class AgeRange(models.TextChoices):
        UNSPECIFIED = "", _("Any age")
        CHILD = "child", _("Child")
        TEEN = "teen", _("Teenager")
        YOUNG_ADULT = "18-29", _("18–29")
        ADULT = "30-44", _("30–44")
        MIDDLE_AGED = "45-64", _("45–64")
        SENIOR = "65+", _("65 and over")

    class Gender(models.TextChoices):
        UNSPECIFIED = "", _("Unspecified")
        FEMININE = "feminine", _("Feminine")
        MASCULINE = "masculine", _("Masculine")
        ANDROGYNOUS = "androgynous", _("Androgynous")

    class ArtStyle(models.TextChoices):
        PHOTO = "photo", _("Photo-realistic")
        RENDER_3D = "3d", _("3D render")
        ILLUSTRATION = "illustration", _("Illustration")
        ANIME = "anime", _("Anime")
        FLAT_VECTOR = "flat", _("Flat vector")
        WATERCOLOR = "watercolor", _("Watercolor")

    name = models.CharField(_("name"), max_length=100)
    role = models.CharField(_("role or occupation"), max_length=150, blank=True)
    age_range = models.CharField(_("age range"), max_length=10, choices=AgeRange.choices, blank=True)
    gender_presentation = models.CharField(
        _("gender presentation"), max_length=20, choices=Gender.choices, blank=True
    )
    appearance = models.TextField(_("appearance"), max_length=1000, blank=True)
    expression = models.CharField(_("expression"), max_length=200, blank=True)
    clothing = models.CharField(_("clothing"), max_length=300, blank=True)
    setting = models.CharField(_("setting or background"), max_length=300, blank=True)
    art_style = models.CharField(
        _("art style"), max_length=20, choices=ArtStyle.choices, default=ArtStyle.PHOTO
    )
    notes = models.TextField(_("notes"), max_length=2000, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name


def reference_path(instance: PersonaReference, filename: str) -> str:
    return f"references/{instance.workspace.code}/{filename}"


class PersonaReference(WorkspaceOwned):
    """A reference photo of a persona (at most `references.MAX_REFERENCES`): cleaned on upload, private.

    Only the cleaned copy is stored (upright, no metadata, re-encoded: `generation.references`). It is
    served to members of its workspace only and deleted with its persona; the uploader confirmed they may
    use the photo (`consent_at`, `created_by`).
    """

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="references")
    file = models.FileField(upload_to=reference_path, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)  # shown to the workspace only
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=30)
    size_bytes = models.PositiveIntegerField()
    consent_at = models.DateTimeField()  # when the uploader confirmed they may use the photo

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"reference {self.original_name or self.code} of {self.persona_id}"


class Generation(WorkspaceOwned):
    """One request to a provider for one or more avatars, from queued to a final state."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Cancelled")

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    class Stage(models.TextChoices):
        """Where a running generation is (written by the worker; providers.adapter.Stage's values)."""

        STARTING = "", _("Starting")
        PROVIDER = "provider", _("At the provider")
        RETRYING = "retrying", _("Retrying")
        CHECKING = "checking", _("Checking images")

    persona = models.ForeignKey(Persona, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    persona_name = models.CharField(max_length=100, blank=True)  # kept when the persona is deleted
    provider_key = models.ForeignKey(
        "keys.ProviderKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    prompt = models.TextField(max_length=32000)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    quality = models.CharField(max_length=20, blank=True)
    background = models.CharField(max_length=20, blank=True)
    output_format = models.CharField(max_length=10)
    n = models.PositiveSmallIntegerField(default=1)
    # References sent with the prompt (an edit): [{"kind": "persona" | "image", "code": "<uuid>"}]. The
    # worker loads them by code within the generation's own workspace (generation.pipeline._references).
    references = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error_kind = models.CharField(max_length=30, blank=True)
    error_message = models.TextField(blank=True)  # sanitized, shown to the user
    quote_nanousd = models.BigIntegerField()
    quote_exact = models.BooleanField(default=False)
    reserved_nanousd = models.BigIntegerField(default=0)  # budget reservation while in flight

    attempt = models.UUIDField(null=True, blank=True)  # the task attempt that owns the row while running
    attempts = models.PositiveSmallIntegerField(default=0)  # provider calls made (retries included)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    provider_requests = models.JSONField(default=list, blank=True)  # fal request ids, OpenAI x-request-id
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress while running, for the status page: the stage, its detail (a retry's reason: the error
    # kind) and when the retry is due. Written with the lease renewals the worker makes anyway.
    stage = models.CharField(max_length=10, choices=Stage.choices, blank=True, default=Stage.STARTING)
    stage_detail = models.CharField(max_length=30, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    # When someone asked to cancel it from its page (docs/decisions.md D32). A queued generation, or an
    # OpenAI call (which cannot be cancelled at OpenAI), is finished by the page at once; a fal
    # generation keeps running until its worker has cancelled its requests at fal and finished it.
    # Once set, the worker starts no new provider call for it.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Live previews (docs/decisions.md D36): partial images asked of the provider (0: none), and the
    # latest one that arrived, kept privately while the generation runs and deleted when it ends. It is
    # never a GeneratedImage, so it never appears in the gallery.
    partial_images = models.PositiveSmallIntegerField(default=0)
    preview = models.FileField(upload_to="previews/", max_length=255, blank=True)
    previews_received = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"]),
            # The budget's reservations sum the in-flight generations on every submission and on the
            # dashboard: a handful of rows, which without this index means scanning the whole history
            # (22 ms at 100k on SQLite). Not a partial index: SQLite cannot match one to bound parameters.
            models.Index(fields=["workspace", "status", "reserved_nanousd"], name="generation_in_flight"),
        ]

    def __str__(self) -> str:
        return f"{self.model} for {self.persona_name or 'a prompt'} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def quote_display(self) -> str:
        return format_usd(self.quote_nanousd)


def image_path(instance: GeneratedImage, filename: str) -> str:
    return f"images/{instance.workspace.code}/{filename}"


class GeneratedImage(models.Model):
    """One avatar: the provider's bytes as they came (verified), plus a WebP thumbnail."""

    code = models.UUIDField(unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField()
    file = models.FileField(upload_to=image_path, max_length=255)
    thumbnail = models.FileField(upload_to=image_path, max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=30)
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    favourite = models.BooleanField(default=False)  # starred in the gallery, by anyone in the workspace

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "index"]
        constraints = [models.UniqueConstraint(fields=["generation", "index"], name="one_image_per_slot")]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"image {self.index} of {self.generation_id}"

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "bin")


class CostRecord(WorkspaceOwned):
    """What one generation cost, computed from what the provider reported. One per generation.

    `amount_nanousd` None is an amount we cannot know, never 0: a billed answer we could not read
    (`charge` CHARGED), or a request that may have been billed (`charge` POSSIBLE: sent and never
    answered, refused after it started, interrupted by a worker crash). Budgets count either at the
    generation's quote until a reconciliation with the provider's own figures resolves it.
    """

    class Charge(models.TextChoices):
        CHARGED = "charged", _("Charged")
        POSSIBLE = "possible", _("Possibly charged")

    class Resolution(models.TextChoices):
        # An unknown amount that a reconciliation with the provider's own figures settled.
        NONE = "", _("Not resolved")
        BILLED = "billed", _("Billed (from the provider's report)")
        NOT_BILLED = "not_billed", _("Not billed (from the provider's report)")

    generation = models.OneToOneField(Generation, on_delete=models.PROTECT, related_name="cost")
    # Which key paid: the generation's key, and its label and hint copied when the record is written, so
    # the history still names the key after it is deleted (the link then is NULL). The member who paid
    # is `created_by` (the generation's).
    provider_key = models.ForeignKey(
        "keys.ProviderKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    key_label = models.CharField(max_length=100, blank=True)
    key_hint = models.CharField(max_length=40, blank=True)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    usage = models.JSONField(default=dict)  # tokens (OpenAI) or output sizes and megapixels (fal)
    unit_prices = models.JSONField(default=dict)  # the catalog prices used, in nano-dollars
    price_version = models.CharField(max_length=40)
    amount_nanousd = models.BigIntegerField(null=True, blank=True)  # None: price unknown, never 0
    # The share of the amount billed for inputs (prompt and reference images); the rest is output.
    input_nanousd = models.BigIntegerField(null=True, blank=True)
    provider_request_ids = models.JSONField(default=list)
    images = models.PositiveSmallIntegerField(default=0)
    # True when the actual cost passed the quote: a pricing bug (logged, and counted from here).
    exceeded_quote = models.BooleanField(default=False)
    charge = models.CharField(max_length=10, choices=Charge.choices, default=Charge.CHARGED)
    # Why the amount is unknown, in plain words (each possibly charged slot's reason, once).
    unknown_reason = models.CharField(max_length=1000, blank=True)
    resolution = models.CharField(max_length=12, choices=Resolution.choices, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=300, blank=True)  # what the provider's report showed

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"]),
            # Usage totals and the monthly chart read only these columns of every record in a period:
            # an index-only scan instead of the table's wide rows (JSON usage, prices, request ids).
            # Key columns rather than INCLUDE, so that SQLite's index covers the queries too.
            models.Index(
                fields=["workspace", "created_at", "provider", "model", "images", "amount_nanousd", "id"],
                name="cost_totals_covering",
            ),
            # A member's or a key's spend this month, read under the lock on every submission that has
            # a limit at that scope (budgets.status): one range of the month, not the scope's history.
            models.Index(fields=["workspace", "created_by", "created_at"], name="cost_member_month"),
            models.Index(fields=["workspace", "provider_key", "created_at"], name="cost_key_month"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_nanousd__isnull=True) | Q(amount_nanousd__gte=0), name="cost_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model}: {format_usd(self.amount_nanousd)}"

    @property
    def key_display(self) -> str:
        """Return the key that paid as pages name keys ("Studio fal (3f8a…9f0e)"), or "" if unknown."""
        if not self.key_label and not self.key_hint:
            return ""
        return f"{self.key_label} ({self.key_hint})" if self.key_hint else self.key_label

    @property
    def amount_display(self) -> str:
        if self.amount_nanousd is None and self.charge == self.Charge.POSSIBLE:
            return str(_("possibly charged — amount unknown"))
        if self.not_billed:
            return f"{format_usd(self.amount_nanousd)} ({_('not billed')})"
        return format_usd(self.amount_nanousd)

    @property
    def input_display(self) -> str:
        """Return what the inputs (prompt, reference images) cost, or "" when not known apart."""
        return (
            ""
            if self.input_nanousd is None or self.amount_nanousd is None
            else format_usd(self.input_nanousd)
        )

    @property
    def output_display(self) -> str:
        if self.input_nanousd is None or self.amount_nanousd is None:
            return ""
        return format_usd(self.amount_nanousd - self.input_nanousd)

    @property
    def not_billed(self) -> bool:
        """Whether reconciliation found the provider did not bill this record (its amount then is $0)."""
        return self.resolution == self.Resolution.NOT_BILLED

    @property
    def possibly_charged(self) -> bool:
        return self.charge == self.Charge.POSSIBLE


class UsageMonth(models.Model):
    """The cost records of one UTC month, summed per (provider, model, member): the usage totals' source.

    Kept in the transaction that writes each cost record (`generation.usage.roll_up`), so the history's
    totals and chart read a few rows per month instead of every record; `rebuild_usage_roll_ups`
    recomputes them from the records.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day of the UTC month
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    # As on the records: a member who deleted their account leaves NULL (their spend still counts).
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requests = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    amount_nanousd = models.BigIntegerField(default=0)  # the records with a known price
    unknown = models.PositiveIntegerField(default=0)  # records without a price

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "month", "provider", "model", "created_by"],
                condition=Q(created_by__isnull=False),
                name="one_usage_row_per_member_month",
            )
        ]
        indexes = [models.Index(fields=["workspace", "month"])]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.model}: {format_usd(self.amount_nanousd)}"


class Budget(models.Model):
    """A workspace's monthly spending cap (UTC months). No row, or no cap: unlimited."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="budget"
    )
    monthly_cap_nanousd = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.workspace}: {format_usd(self.monthly_cap_nanousd) if self.monthly_cap_nanousd else 'no cap'}"


class SpendLimit(models.Model):
    """A monthly limit (UTC months) on one member's or one key's spend in a workspace; no row: no limit.

    The workspace's own cap is `Budget`. All three are checked by `budgets.check_and_lock`, under the
    workspace row's lock (docs/architecture.md §7, docs/decisions.md D34).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    provider_key = models.ForeignKey(
        "keys.ProviderKey", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    monthly_cap_nanousd = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(member__isnull=True, provider_key__isnull=False)
                | Q(member__isnull=False, provider_key__isnull=True),
                name="spend_limit_one_scope",
            ),
            models.CheckConstraint(condition=Q(monthly_cap_nanousd__gte=0), name="spend_limit_not_negative"),
            models.UniqueConstraint(
                fields=["workspace", "member"], condition=Q(member__isnull=False), name="one_limit_per_member"
            ),
            models.UniqueConstraint(
                fields=["workspace", "provider_key"],
                condition=Q(provider_key__isnull=False),
                name="one_limit_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id or self.provider_key_id}: {format_usd(self.monthly_cap_nanousd)}"


class LimitAlert(models.Model):
    """An email sent to the owners because a limit passed 80 % in a month: at most one per limit a month."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=40)  # "workspace", "member:<user id>" or "key:<key id>"
    month = models.DateField()  # the first day of the UTC month
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "scope", "month"], name="one_alert_per_limit_month")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.month:%Y-%m}"


class UnavailableModel(models.Model):
    """A catalog model its provider answered does not exist (shut down) for this workspace's key.

    The catalog keeps offering a model past its announced shutdown date (the date is not confirmed);
    the provider's own "no such model" is what stops the form offering it to this workspace.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=100)
    noticed_at = models.DateTimeField()
    generation_code = models.UUIDField(null=True, blank=True)  # the generation that was refused

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "model"], name="one_unavailable_model_row")
        ]

    def __str__(self) -> str:
        return f"{self.model} unavailable since {self.noticed_at:%Y-%m-%d}"


class Reconciliation(WorkspaceOwned):
    """One comparison of the workspace's ledger with a provider's own report, for UTC days [start, end).

    Read with the workspace's usage key (decrypted only inside the reconciliation task); its lines say,
    per UTC day, what we recorded, what the provider reported and the likely reason for a difference.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    provider = models.CharField(max_length=20)
    usage_key = models.ForeignKey(
        "keys.ProviderKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    start = models.DateField()  # the first UTC day
    end = models.DateField()  # the day after the last (exclusive)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    message = models.CharField(max_length=300, blank=True)  # sanitized: why it failed, or a summary
    # When a task took the run (a conditional update): a redelivered task finds it taken and stops.
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ours_nanousd = models.BigIntegerField(default=0)  # known amounts on the compared lines
    ours_unknown = models.PositiveIntegerField(default=0)  # our records of unknown amount
    theirs_nanousd = models.BigIntegerField(null=True, blank=True)  # what the provider billed
    outside_requests = models.PositiveIntegerField(default=0)  # made with the same key(s), not by us
    resolved = models.PositiveIntegerField(default=0)  # unknown amounts this run settled
    skipped = models.PositiveIntegerField(default=0)  # report entries that could not be read
    # OpenAI: how our keys were matched to its api_key_ids ([{key, label, hint, key_id, how, evidence}]).
    key_matches = models.JSONField(default=list, blank=True)
    # fal: the provider's published prices beside the catalog's ([{model, unit, catalog, theirs}]).
    prices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "provider", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.start}–{self.end} ({self.status})"

    @property
    def difference_nanousd(self) -> int | None:
        return None if self.theirs_nanousd is None else self.theirs_nanousd - self.ours_nanousd

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def price_drift(self) -> list[dict[str, Any]]:
        return [p for p in self.prices if p.get("theirs") is not None and p.get("theirs") != p.get("catalog")]


class ReconciliationLine(models.Model):
    """One UTC day's comparison: money per line item or endpoint, counts per key, or one request."""

    class Kind(models.TextChoices):
        MONEY = "money", _("Money")
        COUNTS = "counts", _("Requests per key")
        REQUEST = "request", _("One request")

    reconciliation = models.ForeignKey(Reconciliation, on_delete=models.CASCADE, related_name="lines")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    subject = models.CharField(max_length=200)  # a model or endpoint, one of our keys, a request id
    ours_requests = models.PositiveIntegerField(default=0)
    theirs_requests = models.PositiveIntegerField(null=True, blank=True)
    ours_images = models.PositiveIntegerField(default=0)
    theirs_images = models.PositiveIntegerField(null=True, blank=True)
    ours_nanousd = models.BigIntegerField(default=0)
    ours_unknown = models.PositiveIntegerField(default=0)
    theirs_nanousd = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["day", "kind", "subject"]

    def __str__(self) -> str:
        return f"{self.day} {self.subject}"

    @property
    def difference_nanousd(self) -> int | None:
        return None if self.theirs_nanousd is None else self.theirs_nanousd - self.ours_nanousd

    @property
    def request_difference(self) -> int | None:
        return None if self.theirs_requests is None else self.theirs_requests - self.ours_requests

    @property
    def matches(self) -> bool:
        money = self.kind == self.Kind.COUNTS or (self.difference_nanousd == 0 and not self.ours_unknown)
        return money and self.request_difference in (0, None)


class KeyMatch(models.Model):
    """Which of the provider's key ids is one of our generation keys (OpenAI's `api_key_id`).

    Found from the usage report by counts per day (`how` COUNTS: the only id whose requests cover ours
    on every day we used the key), or chosen by the owner (OWNER), which later runs keep.
    """

    class How(models.TextChoices):
        COUNTS = "counts", _("Matched by requests per day")
        OWNER = "owner", _("Chosen by the owner")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.OneToOneField("keys.ProviderKey", on_delete=models.CASCADE, related_name="match")
    provider_key_id = models.CharField(max_length=100)
    how = models.CharField(max_length=10, choices=How.choices)
    evidence = models.CharField(max_length=300, blank=True)
    matched_at = models.DateTimeField()

    objects = WorkspaceQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.key_id} = {self.provider_key_id} ({self.how})"
