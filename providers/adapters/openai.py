"""OpenAI's GPT Image models: one synchronous call makes all n images; billed by reported tokens.

The wire is `providers.openai_images` (the official SDK). Prices are per token, in nano-dollars; a cost
comes from the response's `usage`, a quote from the catalog's upper bound of output tokens per image.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from providers import decisions, openai_admin, openai_images, report_http
from providers.adapter import Adapter, Call, Capability, Outcome, PricedModel, Quote
from providers.base import ImageRequest, KeyCheck, ProviderError, ProviderResult, gettext_noop
from providers.usage import UsageReport

logger = logging.getLogger(__name__)

KEY_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-")
# Extra output tokens OpenAI bills per streamed partial image ("about 100", docs/providers.md): the quote's
# upper bound counts them; the cost comes from the completed event's usage.
PARTIAL_IMAGE_TOKENS = 100
# An edit bills its reference images as image-input tokens, and OpenAI publishes no formula for how many
# (docs/providers.md). Assumed upper bound per reference, as sent (at most about 2 MP): the vision
# formula's largest count (85 + 170 per 512-px tile, at most 8 tiles = 1,445) times four for
# `input_fidelity=high`, rounded up. A quote with references is an upper bound under this assumption.
MAX_IMAGE_TOKENS_PER_REFERENCE = 6_000
UNANSWERED_REASON = gettext_noop(
    "The request reached OpenAI but no answer came back (a timeout or a dropped connection); OpenAI "
    "may have generated and billed the images anyway."
)
KEY_ACCEPTED = gettext_noop("OpenAI accepted this key.")
KEY_REJECTED = gettext_noop(
    "OpenAI rejected this key (HTTP 401). Check that you copied the whole key and that it has not been revoked."
)
KEY_RESTRICTED = gettext_noop(
    "OpenAI accepted this key but refused to list models (HTTP 403): it may be a restricted key, or your "
    "organization may need verification. Image generation may fail."
)
ADMIN_KEY_HERE = gettext_noop(
    "This is an OpenAI Admin key: it reads usage reports and cannot generate. Add it under Usage reports, and "
    "paste a project key here."
)
PROJECT_KEY_FOR_USAGE = gettext_noop(
    "Usage reports need an OpenAI Admin key (it starts with sk-admin-). Create one in your organisation's "
    "settings at OpenAI; a project key cannot read usage."
)
# What this module writes for a reader, translated where shown (providers/sentences.py).
SENTENCES = (
    UNANSWERED_REASON,
    KEY_ACCEPTED,
    KEY_REJECTED,
    KEY_RESTRICTED,
    ADMIN_KEY_HERE,
    PROJECT_KEY_FOR_USAGE,
)


class OpenAIAdapter(Adapter):
    name = "openai"
    label = "OpenAI"
    key_description = gettext_noop("an OpenAI key")
    order = 10
    key_check_note = (
        "OpenAI keys are checked with OpenAI's free model list before they are saved; a key OpenAI refuses "
        "is not saved."
    )
    quote_note = gettext_noop(
        "An upper bound: OpenAI bills the tokens it reports, which you will see after the request."
    )
    not_found_means_unknown_model = True  # the images endpoint's only 404 is an unknown model
    capabilities = frozenset(
        {Capability.GENERATE, Capability.EDIT, Capability.STREAM, Capability.USAGE_REPORT}
    )
    edit_quote_note = gettext_noop(
        "Reference images are counted at up to 6,000 image-input tokens each: an assumption, since "
        "OpenAI publishes no formula for them. The charge is what OpenAI reports afterwards."
    )
    usage_key_description = gettext_noop("an OpenAI Admin key (sk-admin-…), created by an organisation owner")
    interrupted_message = gettext_noop(
        "The worker stopped while OpenAI was generating these images. OpenAI may have billed the request: "
        "check your usage page at OpenAI. Try again."
    )

    def looks_like(self, secret: str) -> bool:
        return secret.startswith("sk-")

    def hint(self, secret: str) -> str:
        prefix = next((p for p in KEY_PREFIXES if secret.startswith(p)), secret[:3])
        return f"{prefix}…{secret[-4:]}"

    def check_key(self, secret: str, *, timeout: float) -> KeyCheck:
        """Ask for the free model list: 200 valid, 401 invalid, 403 restricted."""
        check = openai_images.check_key(secret, timeout=timeout)
        if check.status == "valid":
            return KeyCheck("valid", KEY_ACCEPTED)
        if check.status == "invalid":
            return KeyCheck("invalid", KEY_REJECTED)
        if check.status == "forbidden":
            return KeyCheck("forbidden", KEY_RESTRICTED)
        return check

    def key_problem(self, secret: str) -> str | None:
        if secret.startswith(openai_admin.ADMIN_PREFIX):
            return ADMIN_KEY_HERE
        return None

    def usage_key_problem(self, secret: str) -> str | None:
        if not secret.startswith(openai_admin.ADMIN_PREFIX):
            return PROJECT_KEY_FOR_USAGE
        return None

    def check_usage_key(self, secret: str, *, timeout: float, today: dt.date) -> KeyCheck:
        return openai_admin.check_admin_key(secret, timeout=timeout)

    def usage_report(
        self, admin_secret: str, *, start: dt.date, end: dt.date, models: list[str]
    ) -> UsageReport:
        """Return the organisation's costs (per day, line item and project) and image usage (per key)."""
        report = UsageReport(start=start, end=end)
        report.costs, skipped_costs = openai_admin.costs(admin_secret, start=start, end=end)
        report.usage, skipped_usage = openai_admin.image_usage(admin_secret, start=start, end=end)
        report.skipped = skipped_costs + skipped_usage
        return report

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
        """Return a true upper bound: OpenAI bills the tokens its `usage` reports afterwards."""
        # A token is at least one byte of UTF-8, so the prompt's byte length bounds its input tokens.
        input_bound = len(prompt.encode("utf-8")) * model.price["text_input"]
        # References: the documented assumption above (once per request: n images share the inputs).
        input_bound += len(references) * MAX_IMAGE_TOKENS_PER_REFERENCE * model.price["image_input"]
        tokens = n * model.max_output_tokens(f"{width}x{height}", quality or "high")
        tokens += partial_images * PARTIAL_IMAGE_TOKENS
        return Quote(input_bound + tokens * model.price["image_output"], exact=False)

    def cost(self, usage: Mapping[str, Any], price: Mapping[str, Any]) -> int | None:
        """Return the cost of an image call from its `usage`, or None when usage is missing."""
        if not usage or "output_tokens" not in usage or "input_tokens" not in usage:
            return None
        input_tokens = int(usage["input_tokens"])
        details = usage.get("input_tokens_details") or {}
        image_tokens = int(details.get("image_tokens") or 0)
        text_tokens = int(details.get("text_tokens", input_tokens - image_tokens) or 0)
        # Cached tokens are counted inside text tokens: bill them at the cached price, the rest in full.
        cached = min(int(details.get("cached_tokens") or 0), text_tokens)
        # Token counts times prices, which are whole nano-dollars (the catalog's tests hold it to that).
        amount: int = (
            (text_tokens - cached) * price["text_input"]
            + cached * price["cached_text_input"]
            + image_tokens * price["image_input"]
            + int(usage["output_tokens"]) * price["image_output"]
        )
        return amount

    def input_cost(self, usage: Mapping[str, Any], price: Mapping[str, Any]) -> int | None:
        """Return the share of the cost billed for input tokens (the prompt and reference images)."""
        total = self.cost(usage, price)
        if total is None:
            return None
        return total - int(usage["output_tokens"]) * int(price["image_output"])

    def run(self, secret: str, call: Call) -> Outcome:
        """Make the call, retrying what `decisions.after_openai_failure` says to retry."""
        self.require(call.request)
        for index in range(decisions.MAX_ATTEMPTS):
            call.before_call()
            call.at_provider()
            try:
                result = self._generate(secret, call)
            except ProviderError as exc:
                action = decisions.after_openai_failure(exc, last=decisions.is_last(index))
                if action is decisions.Action.RETRY:
                    delay = decisions.backoff_delay(index, exc.retry_after)
                    logger.info(
                        "generation %s: %s, retry %d in %.1fs", call.log_name, exc.kind, index + 1, delay
                    )
                    call.retrying(exc.kind, delay)
                    time.sleep(delay)
                    continue
                request_ids = [exc.request_id] if exc.request_id else []
                possibly = action is decisions.Action.FAIL_POSSIBLY_BILLED
                return Outcome(
                    error=exc,
                    billed=action.billed,
                    usage=exc.usage,
                    request_ids=request_ids,
                    possibly_billed=possibly,
                    possible_reason=UNANSWERED_REASON if possibly else "",
                )
            return Outcome(
                images=list(result.images),
                usage=result.usage,
                request_ids=[result.request_id] if result.request_id else [],
                billed=True,
            )
        raise AssertionError("unreachable: the last attempt always decides to stop")

    def _generate(self, secret: str, call: Call) -> ProviderResult:
        """Make one call: an edit with references; else streamed when the user asked for previews and the
        worker takes them."""
        if call.request.references:
            return openai_images.edit(secret, call.request, timeout=call.timeout)
        if streams(call.request) and call.on_partial is not None:
            return openai_images.generate_streaming(
                secret, call.request, on_partial=call.on_partial, timeout=call.timeout
            )
        return openai_images.generate(secret, call.request, timeout=call.timeout)

    def close(self) -> None:
        openai_images.close_clients()
        report_http.close_clients()


def streams(request: ImageRequest) -> bool:
    """Whether a request is streamed with partial images: asked for, and one image (the stream's events
    carry one image each; with n > 1 the call is made without previews)."""
    return request.n == 1 and request.partial_images > 0


ADAPTER = OpenAIAdapter()
