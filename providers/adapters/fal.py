"""fal.ai's Flux 2 models: one image per queued request; billed per output megapixel.

The wire is `providers.fal_queue` (its queue REST API through httpx). All n requests are queued first,
then awaited, so n images take about as long as one. Request ids are saved right after each submit:
a new attempt resumes them by polling instead of paying again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from providers import decisions, fal_platform, fal_queue, report_http
from providers.adapter import Adapter, Call, CancelRequested, Capability, Outcome, PricedModel, Quote
from providers.base import KeyCheck, ProviderError, ProviderResult, gettext_noop
from providers.usage import UsageReport, day_start

logger = logging.getLogger(__name__)

MEGAPIXEL = 1024 * 1024
SUBMIT_TIMEOUT = 30.0
REFUSED_AFTER_START = gettext_noop(
    "fal.ai refused the request after it had started (HTTP 422); fal may charge the GPU time a runner "
    "already spent on it."
)
SUBMIT_UNANSWERED = gettext_noop(
    "The request reached fal.ai but no usable answer came back (a timeout, a dropped connection or an "
    "unreadable reply); fal may have queued it, and then it runs and is billed."
)
INTERRUPTED_SUBMIT = gettext_noop(
    "The worker stopped while sending the request to fal.ai; fal may have queued it, and then it runs and "
    "is billed."
)
NOT_CANCELLED = gettext_noop(
    "fal.ai did not finish the request before the deadline and it could not be cancelled; it may still "
    "complete and be billed."
)
CANCELLED_RUNNING = gettext_noop(
    "Cancelled after fal.ai had started drawing: fal accepted the cancel, but may charge the GPU time its "
    "runner already spent."
)
KEY_IN_TWO_PARTS = gettext_noop("A fal.ai key has two parts, KEY_ID:KEY_SECRET. Paste the whole key.")
# What this module writes for a reader, translated where shown (providers/sentences.py).
SENTENCES = (
    REFUSED_AFTER_START,
    SUBMIT_UNANSWERED,
    INTERRUPTED_SUBMIT,
    NOT_CANCELLED,
    CANCELLED_RUNNING,
    KEY_IN_TWO_PARTS,
)
# fal lists a request only once it has ended, and a request that just ended may not be listed yet: the
# request list is taken to cover only the requests that ended this long before it was read.
SETTLING_DELAY = dt.timedelta(hours=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def megapixels(width: int, height: int) -> int:
    """Return the billed megapixels of one image: pixels / 1024², rounded up."""
    return max(1, math.ceil(width * height / MEGAPIXEL))


def image_cost(width: int, height: int, price: Mapping[str, Any], input_megapixels: int = 0) -> int:
    """Return the cost of one image: the first megapixel, then each further one, the input megapixels
    of its reference images included (an edit: fal counts them as processed megapixels)."""
    processed = megapixels(width, height) + input_megapixels
    return int(price["first_megapixel"]) + (processed - 1) * int(price["extra_megapixel"])


def input_megapixels(references: Iterable[tuple[int, int]]) -> int:
    """Return the megapixels fal bills for one request's reference images, each rounded up."""
    return sum(megapixels(w, h) for w, h in references)


EDIT_SUFFIX = "/edit"  # fal's edit app of a model: `fal-ai/flux-2-max/edit`


class FalAdapter(Adapter):
    name = "fal"
    label = "fal.ai"
    key_description = gettext_noop("a fal.ai key (KEY_ID:KEY_SECRET)")
    order = 20
    key_check_note = (
        "fal.ai has no free check: a fal.ai key is saved as unverified until its first generation proves it."
    )
    quote_note = gettext_noop("Exact: fal.ai bills per megapixel of output.")
    one_image_per_request = True
    resumable = True
    provider_cancels = True  # PUT {cancel_url}: the worker cancels its requests (D32)
    capabilities = frozenset(
        {Capability.GENERATE, Capability.EDIT, Capability.USAGE_REPORT, Capability.DELETE_PAYLOADS}
    )
    edit_quote_note = gettext_noop(
        "Reference images are billed as processed megapixels with every image, at the size they are sent "
        "(scaled to about 2 megapixels): included above."
    )
    usage_key_description = gettext_noop("a fal.ai key with the Admin scope (KEY_ID:KEY_SECRET)")
    report_lists_requests = True

    def catalog_unit_price(self, price: Mapping[str, Any]) -> int | None:
        """fal's pricing endpoint quotes one unit price per megapixel: the catalog's first megapixel's."""
        return int(price["first_megapixel"]) if "first_megapixel" in price else None

    interrupted_message = gettext_noop(
        "The worker stopped while fal.ai was working on this request. fal.ai may have billed it: check your "
        "requests at fal.ai. Try again."
    )

    def looks_like(self, secret: str) -> bool:
        return ":" in secret

    def key_problem(self, secret: str) -> str | None:
        key_id, _, key_secret = secret.partition(":")
        if not key_id or not key_secret:
            return KEY_IN_TWO_PARTS
        return None

    def hint(self, secret: str) -> str:
        return f"{secret.partition(':')[0][:4]}…{secret[-4:]}"

    # No free key check is documented: a fal key is saved unverified and proven by its first generation.

    def check_usage_key(self, secret: str, *, timeout: float, today: dt.date) -> KeyCheck:
        return fal_platform.check_admin_key(secret, today=today, timeout=timeout)

    def usage_report(
        self, admin_secret: str, *, start: dt.date, end: dt.date, models: list[str]
    ) -> UsageReport:
        """Return fal's usage per day and endpoint, every request of the endpoints, and their prices."""
        report = UsageReport(start=start, end=end)
        if not models:
            return report
        report.usage, skipped = fal_platform.usage(admin_secret, start=start, end=end, endpoints=models)
        report.prices, skipped_prices = fal_platform.pricing(admin_secret, endpoints=models)
        skipped += skipped_prices
        fetched_at = _now()  # before the first page: a request ending while the pages are read may be missed
        for endpoint in models:
            found, skipped_requests = fal_platform.requests(
                admin_secret, endpoint=endpoint, start=start, end=end
            )
            report.requests.extend(found)
            skipped += skipped_requests
        # Every page of every endpoint was read (a failure raises): the list holds every request that
        # ended in the period up to the settling delay before it was read; never into the future.
        cover_end = min(day_start(end), fetched_at - SETTLING_DELAY)
        report.requests_cover = (day_start(start), cover_end) if cover_end > day_start(start) else None
        report.skipped = skipped
        return report

    def delete_payloads(self, secret: str, request_id: str) -> bool:
        return fal_platform.delete_payloads(secret, request_id)

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
        """Return the exact price: it depends only on the output size and the references' sizes (fal
        streams no previews)."""
        return Quote(n * image_cost(width, height, model.price, input_megapixels(references)), exact=True)

    def cost(self, usage: Mapping[str, Any], price: Mapping[str, Any]) -> int | None:
        """Return the cost of the images fal billed (`usage["images"]`, their sizes), or None if unknown."""
        images = usage.get("images") or []
        if not images:
            return None
        return sum(
            image_cost(int(i["width"]), int(i["height"]), price, int(i.get("input_megapixels") or 0))
            for i in images
        )

    def input_cost(self, usage: Mapping[str, Any], price: Mapping[str, Any]) -> int | None:
        """Return the share billed for the references' megapixels (each one at the further-MP price)."""
        images = usage.get("images") or []
        if not images:
            return None
        return sum(int(i.get("input_megapixels") or 0) for i in images) * int(price["extra_megapixel"])

    def run(self, secret: str, call: Call) -> Outcome:
        """Queue every image (or resume the saved requests), then await each; see `_Run`."""
        self.require(call.request)
        return _Run(secret, call).carry_out()

    def close(self) -> None:
        fal_queue.close_clients()
        report_http.close_clients()


class _Run:
    """One generation's requests at fal: the loops that carry out `decisions`' verdicts."""

    def __init__(self, secret: str, call: Call) -> None:
        self.secret = secret
        self.call = call
        self.request = dataclasses.replace(call.request, n=1)
        # An edit goes to the model's edit app; status and result URLs drop the `/edit` (FalHandle).
        self.model_id = call.request.model + (EDIT_SUFFIX if call.request.references else "")
        self.input_megapixels = input_megapixels((r.width, r.height) for r in call.request.references)
        self.saved: list[dict[str, Any]] = [dict(entry) for entry in call.saved]
        self.outcome = Outcome()
        self.billed_sizes: list[tuple[int, int]] = []
        self.cancel_answered: set[str] = set()  # requests a user's cancel was already sent for

    def __repr__(self) -> str:  # never the key
        return f"_Run({self.model_id}, {self.call.log_name})"

    def carry_out(self) -> Outcome:
        self._cancelled_before()
        entries = []
        for slot in range(self.call.request.n):
            saved = next((e for e in self.saved if e["slot"] == slot and not e.get("failed")), None)
            if saved is not None and not saved.get("request_id"):
                # An earlier attempt died during this slot's submit: fal may have queued it under an id
                # we never learnt. Sending it again could pay twice: possibly charged instead.
                self._possibly(INTERRUPTED_SUBMIT)
                continue
            entry = saved or self.submit(slot)  # a saved request is resumed by polling, never sent again
            if entry is not None:
                entries.append(entry)
        for entry in entries:
            self.await_slot(entry)
        outcome = self.outcome
        outcome.billed = bool(self.billed_sizes)
        outcome.usage = {
            "images": [
                {"width": w, "height": h, "megapixels": megapixels(w, h)}
                | ({"input_megapixels": self.input_megapixels} if self.input_megapixels else {})
                for w, h in self.billed_sizes
            ]
        }
        if not outcome.images and outcome.partial_errors:
            outcome.error = outcome.partial_errors[0]
        return outcome

    def submit(self, slot: int) -> dict[str, Any] | None:
        """Queue one image; save its request id at once. None when it could not be queued.

        The slot is saved as pending (no id yet) before anything is sent, so that an attempt that dies
        between sending and saving the id leaves a trace: the next attempt never sends that slot again.
        """
        pending: dict[str, Any] = {"slot": slot, "request_id": None}
        self.saved.append(pending)
        self.call.save_requests(self.saved)
        for index in range(decisions.MAX_ATTEMPTS):
            try:
                self.call.before_call()
            except CancelRequested:
                # The user cancelled: this slot is never sent, so it costs nothing.
                pending["failed"] = True
                self.call.save_requests(self.saved)
                self.outcome.cancelled = True
                return None
            self.call.at_provider()
            try:
                handle = fal_queue.submit(
                    self.secret, self.model_id, self.request, timeout=min(SUBMIT_TIMEOUT, self.call.timeout)
                )
            except ProviderError as exc:
                action = decisions.after_fal_submit(exc, last=decisions.is_last(index))
                if action is decisions.Action.RETRY:
                    self._pause(index, exc)
                    continue
                if action is decisions.Action.FAIL_POSSIBLY_BILLED:
                    self._possibly(SUBMIT_UNANSWERED)
                else:
                    pending["failed"] = True  # refused: nothing was queued, a new attempt may send it
                    self.call.save_requests(self.saved)
                self.outcome.partial_errors.append(exc)
                return None
            pending["request_id"] = handle.request_id
            # Saved before waiting: a restarted task resumes this request instead of paying again.
            self.call.save_requests(self.saved)
            return pending
        raise AssertionError("unreachable: the last attempt always decides to stop")

    def await_slot(self, entry: dict[str, Any]) -> None:
        """Wait for one request's image; fetch again, submit again or give up as `decisions` says."""
        billed = False  # this request finished at fal (so it was billed): kept across the retries below
        for index in range(decisions.MAX_ATTEMPTS):
            self.call.keep_alive()  # each wait may take a whole provider deadline
            self.call.at_provider()
            handle = fal_queue.FalHandle.for_request_id(self.model_id, entry["request_id"])
            try:
                result = self._result(entry, handle)
                if result is None:
                    return  # cancelled at fal
            except ProviderError as exc:
                wait = decisions.FalWait.of(exc, billed_before=billed, last=decisions.is_last(index))
                if decisions.fal_must_cancel(wait):
                    wait = dataclasses.replace(wait, cancelled=self._cancel(handle))
                action = decisions.after_fal_wait(wait)
                billed = action.billed
                if action.final:
                    self._failed(entry, exc, action)
                    return
                self._pause(index, exc)
                if action in (decisions.Action.REFETCH, decisions.Action.RESUME):
                    continue  # the same request again: submitting anew could bill twice
                entry["failed"] = True
                replacement = self.submit(entry["slot"])
                if replacement is None:
                    return
                entry = replacement
                continue
            self.outcome.request_ids.append(entry["request_id"])
            self.billed_sizes.extend(
                (int(s.get("width") or self.request.width), int(s.get("height") or self.request.height))
                for s in result.usage.get("images", [])
            )
            self.outcome.images.extend(result.images)
            return

    def _result(self, entry: dict[str, Any], handle: fal_queue.FalHandle) -> ProviderResult | None:
        """Wait for the request's result; None when the user cancelled it and fal stopped it.

        While waiting, the worker is asked between polls whether the user cancelled; if so the request is
        cancelled at fal, and fal's answer decides (`decisions.after_fal_cancel`): stopped, it costs
        nothing (still queued) or possibly its GPU time (started); too late, or the cancel could not be
        made, and it completes and is billed, so its result is awaited and fetched like any other.
        """
        stop = None if entry["request_id"] in self.cancel_answered else self.call.should_cancel
        try:
            return fal_queue.wait_for_result(
                self.secret,
                handle,
                deadline=time.monotonic() + self.call.timeout,
                stop=stop,
                on_status=self.call.provider_status,
            )
        except fal_queue.StopRequested as asked:
            self.cancel_answered.add(entry["request_id"])
            action = decisions.after_fal_cancel(asked.status, self._cancel(handle))
            logger.info("generation %s: cancelled by the user at fal: %s", self.call.log_name, action)
        if action is decisions.Action.FAIL_UNBILLED or action is decisions.Action.FAIL_POSSIBLY_BILLED:
            self.outcome.cancelled = True
            entry["failed"] = True  # a new attempt must not wait on it again
            if action is decisions.Action.FAIL_POSSIBLY_BILLED:
                entry["cancelled"] = "possibly_billed"  # and must still put it on the books
                self.outcome.request_ids.append(entry["request_id"])
                self._possibly(CANCELLED_RUNNING)
            self.call.save_requests(self.saved)
            return None
        self.call.keep_alive()
        return fal_queue.wait_for_result(
            self.secret,
            handle,
            deadline=time.monotonic() + self.call.timeout,
            on_status=self.call.provider_status,
        )

    def _cancelled_before(self) -> None:
        """Put on the books the requests an earlier attempt cancelled after fal had started them."""
        for entry in self.saved:
            if entry.get("cancelled") == "possibly_billed" and entry.get("request_id"):
                self.outcome.cancelled = True
                self.outcome.request_ids.append(entry["request_id"])
                self._possibly(CANCELLED_RUNNING)

    def _failed(self, entry: dict[str, Any], error: ProviderError, action: decisions.Action) -> None:
        """Record a slot that gave up: billed (its size is charged), possibly billed, or not billed."""
        if action is decisions.Action.FAIL_BILLED:
            self.billed_sizes.append((self.request.width, self.request.height))
            self.outcome.request_ids.append(entry["request_id"])
        elif action is decisions.Action.FAIL_POSSIBLY_BILLED:
            self.outcome.request_ids.append(entry["request_id"])
            self._possibly(REFUSED_AFTER_START if error.status_code == 422 else NOT_CANCELLED)
        self.outcome.partial_errors.append(error)

    def _possibly(self, reason: str) -> None:
        """Note that a slot may have been charged, and why (every slot's reason, each once)."""
        self.outcome.possibly_billed = True
        if reason not in self.outcome.possible_reason:
            self.outcome.possible_reason = f"{self.outcome.possible_reason} {reason}".strip()

    def _cancel(self, handle: fal_queue.FalHandle) -> bool | None:
        """Cancel a request still queued: True cancelled, False it had just finished, None unknown."""
        try:
            return fal_queue.cancel(self.secret, handle)
        except ProviderError:
            return None

    def _pause(self, index: int, error: ProviderError) -> None:
        delay = decisions.backoff_delay(index, error.retry_after)
        logger.info("generation %s: %s, retry %d in %.1fs", self.call.log_name, error.kind, index + 1, delay)
        self.call.retrying(error.kind, delay)
        time.sleep(delay)


ADAPTER = FalAdapter()
