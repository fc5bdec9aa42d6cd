"""The provider seam: what every provider adapter does, and what the worker hands it.

An adapter knows one provider: the shape of its keys and how to check one, how to quote a request and
cost what the provider reported (in its prices' units), and how to run a request with its retry policy
(from `decisions`). The worker (`generation.pipeline`) owns the generation's row, its lease and the
decrypted key; it hands the adapter the key as an argument and a `Call` of callbacks, so this package
needs no app. Adding a provider is one module in `providers/adapters/` plus its models in the catalog.

Designed for what comes next. `ImageRequest.references` carries reference images (edits),
`Call.on_partial` receives streamed partial images; `usage_report` reads the provider's own usage
figures with a usage key (reconciliation) and `delete_payloads` removes what the provider stored of a
request. An adapter lists in `capabilities` which of these it implements; the app
offers only what an adapter declares, and an adapter refuses a request that needs a capability it lacks.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from providers.base import ImageRequest, KeyCheck, ProviderError, ProviderImage
from providers.usage import UsageReport


class Capability(StrEnum):
    GENERATE = "generate"  # text to image
    EDIT = "edit"  # images from `ImageRequest.references`
    STREAM = "stream"  # partial images through `Call.on_partial` while the provider draws
    USAGE_REPORT = "usage_report"  # `usage_report`: the provider's own figures, for reconciliation
    DELETE_PAYLOADS = "delete_payloads"  # `delete_payloads`: remove a request's stored inputs and outputs


class Stage(StrEnum):
    """Where a running generation is, as an adapter reports it through `Call.on_progress`."""

    AT_PROVIDER = "provider"  # a request is with the provider (sent, or waited on)
    RETRYING = "retrying"  # the provider was busy or failed for a moment: waiting to try again


class CancelRequested(Exception):
    """Raised by `Call.before_call` when the user asked to cancel: no new request may be sent.

    An adapter that can cancel at its provider (`Adapter.provider_cancels`) catches it and winds its
    requests down (`Outcome.cancelled`); for the others it ends `run`, and the worker finishes the
    generation as cancelled with nothing charged (no request of this call was sent).
    """


class NotSupported(Exception):
    """The adapter does not implement a capability the request needs (see `Adapter.capabilities`)."""


@dataclass(frozen=True)
class Quote:
    amount_nanousd: int
    exact: bool  # exact (the price depends only on what is asked), or an upper bound


class PricedModel(Protocol):
    """What an adapter needs of a catalog model (generation.catalog.Model satisfies it)."""

    @property
    def id(self) -> str: ...

    @property
    def price(self) -> Mapping[str, Any]: ...

    def max_output_tokens(self, size: str, quality: str) -> int: ...


@dataclass
class Outcome:
    """What came back from the provider for one generation."""

    images: list[ProviderImage] = field(default_factory=list)  # as sent: the worker verifies them
    usage: dict[str, Any] = field(default_factory=dict)  # what the provider reported; the cost's input
    request_ids: list[str] = field(default_factory=list)
    billed: bool = False  # the provider charged (even if what it sent is unusable)
    # A request may have been charged at an amount we cannot know (sent and never answered, refused
    # after it started): recorded as "possibly charged", counted at the quote until reconciled.
    possibly_billed: bool = False
    possible_reason: str = ""  # why, in plain words
    error: ProviderError | None = None  # set when no usable image came back
    partial_errors: list[ProviderError] = field(default_factory=list)  # slots that failed (fal)
    # The user cancelled: at least one request was cancelled at the provider or never sent. Images that
    # had already been made (and billed) are still in `images`.
    cancelled: bool = False


@dataclass
class Call:
    """What the worker hands an adapter for one generation. Never the key: that is an argument.

    `before_call` runs before every request that can make the provider work (the worker renews its
    lease and counts the call; it raises to stop the run); `keep_alive` before every long wait on a
    request already made (it renews the lease only). `save_requests` persists request handles right
    after a submit, so that a new attempt can resume them (`saved`) instead of paying again.
    `on_progress(stage, detail, retry_at)` tells the worker where the run is, for the person watching:
    adapters report through `at_provider()`, `provider_status()` and `retrying()`; it is cheap (the worker
    writes only a change).
    """

    request: ImageRequest
    timeout: float
    before_call: Callable[[], None]
    keep_alive: Callable[[], None]
    save_requests: Callable[[list[dict[str, Any]]], None]
    saved: list[dict[str, Any]] = field(default_factory=list)
    log_name: str = ""  # the generation, for log lines
    on_partial: Callable[[ProviderImage], None] | None = None
    on_progress: Callable[[Stage, str, dt.datetime | None], None] | None = None
    # Whether the user asked to cancel (a database read): an adapter that can cancel at its provider
    # asks it between polls. `before_call` raises CancelRequested in any case.
    cancel_requested: Callable[[], bool] | None = None

    def should_cancel(self) -> bool:
        """Return whether the user asked to cancel (False when the worker gave no way to ask)."""
        return self.cancel_requested is not None and self.cancel_requested()

    def at_provider(self) -> None:
        """Report that a request is with the provider (after `before_call` or `keep_alive`)."""
        if self.on_progress is not None:
            self.on_progress(Stage.AT_PROVIDER, "", None)

    def provider_status(self, status: str, queue_position: int | None = None) -> None:
        """Report the provider's own status of the request as it changes (fal: IN_QUEUE with the queue
        position, IN_PROGRESS), as the stage's detail: "IN_QUEUE:3", "IN_PROGRESS"."""
        if self.on_progress is not None:
            detail = status if queue_position is None else f"{status}:{queue_position}"
            self.on_progress(Stage.AT_PROVIDER, detail[:30], None)

    def retrying(self, reason: str, delay: float) -> None:
        """Report a wait of `delay` seconds before trying again; `reason` is the error's kind."""
        if self.on_progress is not None:
            retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
            self.on_progress(Stage.RETRYING, reason, retry_at)


class Adapter(abc.ABC):
    """One provider. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]  # stored in rows ("openai"); never renamed
    label: ClassVar[str]  # shown to people ("OpenAI")
    key_description: ClassVar[str]  # "an OpenAI key": for "This looks like an OpenAI key"
    order: ClassVar[int] = 100  # where it comes in lists
    quote_note: ClassVar[str]  # beside a quote: what it is (exact, or an upper bound) and why
    key_check_note: ClassVar[str]  # on the keys page: how a new key is checked before it is saved
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.GENERATE})
    # Each request makes one image, so n images are n requests, each billed.
    one_image_per_request: ClassVar[bool] = False
    # An interrupted call can be resumed from saved request ids (else it may have been billed: it fails).
    resumable: ClassVar[bool] = False
    # A "not found" from the image call is about the model: it does not exist (or not for this key).
    not_found_means_unknown_model: ClassVar[bool] = False
    interrupted_message: ClassVar[str]  # the generation's message when a worker died during its call
    # The provider can cancel a request it holds (fal's queue): a cancel from the page is carried out by
    # the worker, which asks the provider and finishes the generation from its answer. Otherwise (one
    # blocking call, OpenAI) the page finishes the generation itself and the worker stops waiting.
    provider_cancels: ClassVar[bool] = False

    # Keys

    @abc.abstractmethod
    def looks_like(self, secret: str) -> bool:
        """Return whether `secret` has this provider's key shape (to stop keys going to the wrong one)."""

    def key_problem(self, secret: str) -> str | None:
        """Return why `secret` cannot be this provider's key (beyond the vault's generic checks), or None."""
        return None

    @abc.abstractmethod
    def hint(self, secret: str) -> str:
        """Return the masked form shown in pages."""

    def check_key(self, secret: str, *, timeout: float) -> KeyCheck | None:
        """Ask the provider about the key at no cost; None when the provider offers no free check."""
        return None

    # Money

    @abc.abstractmethod
    def quote(
        self,
        model: PricedModel,
        *,
        width: int,
        height: int,
        quality: str | None,
        n: int,
        prompt: str,
        partial_images: int = 0,
        references: Sequence[tuple[int, int]] = (),
    ) -> Quote:
        """Return the price before the click: exact, or a true upper bound. `partial_images` are streamed
        previews (an adapter with Capability.STREAM); `references` are the sizes of the reference images as
        they will be sent (an edit)."""

    @abc.abstractmethod
    def cost(self, usage: Mapping[str, Any], price: Mapping[str, Any]) -> int | None:
        """Return what a call cost from the usage the provider reported, or None when it cannot be known."""

    def input_cost(self, usage: Mapping[str, Any], price: Mapping[str, Any]) -> int | None:
        """Return the share of `cost` billed for inputs (prompt, reference images), or None if unknown."""
        return None

    edit_quote_note: ClassVar[str] = ""  # beside a quote with references: how their price is counted

    # Calls

    @abc.abstractmethod
    def run(self, secret: str, call: Call) -> Outcome:
        """Make the request (with retries, per `decisions`); return what came back. Never raises
        ProviderError: a failure is the Outcome's `error`."""

    # Usage reports (Capability.USAGE_REPORT), read with a read-only *usage key*, never a generation key

    usage_key_description: ClassVar[str] = ""  # what to paste in "Usage reports" ("an OpenAI Admin key")
    # The report lists requests by id (fal), so unknown amounts can be settled per request; otherwise it
    # counts per key and prices per day (OpenAI), and keys are matched to the provider's key ids.
    report_lists_requests: ClassVar[bool] = False

    def catalog_unit_price(self, price: Mapping[str, Any]) -> int | None:
        """Return the catalog's price in the unit the provider's pricing endpoint quotes, or None."""
        return None

    def usage_key_problem(self, secret: str) -> str | None:
        """Return why `secret` cannot be this provider's usage key, or None."""
        return self.key_problem(secret)

    def check_usage_key(self, secret: str, *, timeout: float, today: dt.date) -> KeyCheck | None:
        """Ask the provider whether the key may read usage (a cheap admin call); None when it cannot tell."""
        return None

    def usage_report(
        self, admin_secret: str, *, start: dt.date, end: dt.date, models: list[str]
    ) -> UsageReport:
        """Return the provider's own figures for the UTC days [start, end) and the catalog's `models`."""
        raise NotSupported(f"{self.label} usage reports are not implemented")

    def delete_payloads(self, secret: str, request_id: str) -> bool:
        """Delete a request's stored inputs and outputs at the provider (Capability.DELETE_PAYLOADS);
        return False when the provider does not know the request."""
        raise NotSupported(f"{self.label} keeps no payloads to delete")

    def close(self) -> None:
        """Close pooled connections (worker shutdown, end of a test session); none by default."""
        return None

    def require(self, request: ImageRequest) -> None:
        """Refuse a request that needs a capability this adapter does not declare."""
        if request.references and Capability.EDIT not in self.capabilities:
            raise NotSupported(f"{self.label} cannot make images from reference images here")
