"""The CSV export: one row per cost record, newest first, streamed in chunks, with exact amounts.

The rows are the history page's for the same filters; amounts are in `money.plain_usd`'s exact form, so
a spreadsheet's sum of a column equals the page's total to the nano-dollar.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from accounts.models import Workspace
from generation.money import plain_usd
from generation.usage.filters import Filters, records
from generation.usage.history import NEWEST_FIRST, image_input_tokens, input_megapixels, megapixels, tokens

# English and machine-readable whatever the page's language: "possibly charged" has an unknown amount.
CHARGE_LABELS = {"charged": "charged", "possible": "possibly charged"}
# An unknown amount a reconciliation settled from the provider's report (empty: never unknown, or not yet).
RESOLUTION_LABELS = {"": "", "billed": "billed", "not_billed": "not billed"}

CSV_HEADER = (
    "time_utc",
    "generation",
    "member",
    "key_label",
    "key_hint",
    "persona",
    "status",
    "provider",
    "model",
    "width",
    "height",
    "quality",
    "images",
    "input_tokens",
    "output_tokens",
    "megapixels",
    "quote_usd",
    "amount_usd",
    "unit_prices",
    "price_version",
    "provider_request_ids",
    "charge",
    "unknown_reason",
    "resolution",
    "resolution_note",
    # References (issue 19): what the inputs cost apart from the output.
    "reference_images",
    "image_input_tokens",
    "input_megapixels",
    "input_usd",
    "output_usd",
)

_CSV_FIELDS = (
    "created_at",
    "generation__code",
    "created_by__email",
    "key_label",
    "key_hint",
    "generation__persona_name",
    "generation__status",
    "provider",
    "model",
    "generation__width",
    "generation__height",
    "generation__quality",
    "images",
    "usage",
    "generation__quote_nanousd",
    "amount_nanousd",
    "unit_prices",
    "price_version",
    "provider_request_ids",
    "charge",
    "unknown_reason",
    "resolution",
    "resolution_note",
    "generation__references",
    "input_nanousd",
)

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = frozenset("=+-@\t\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def _inputs(usage: Any, references: Any, amount: int | None, input_amount: int | None) -> list[Any]:
    """Return the reference columns: how many, their tokens or megapixels, and input and output apart."""
    image_tokens, in_megapixels = image_input_tokens(usage), input_megapixels(usage)
    split = amount is not None and input_amount is not None
    return [
        len(references) if isinstance(references, list) else 0,
        "" if image_tokens is None else image_tokens,
        "" if in_megapixels is None else in_megapixels,
        plain_usd(input_amount) if split else "",
        plain_usd(amount - input_amount) if split and amount is not None and input_amount is not None else "",
    ]


def csv_rows(workspace: Workspace, filters: Filters) -> Iterator[list[Any]]:
    """Yield the header, then one row per record, newest first, reading the database in chunks."""
    yield list(CSV_HEADER)
    qs = records(workspace, filters).order_by(*NEWEST_FIRST).values_list(*_CSV_FIELDS)
    for (
        created_at,
        generation,
        member,
        key_label,
        key_hint,
        persona,
        status,
        provider,
        model,
        width,
        height,
        quality,
        images,
        usage,
        quote,
        amount,
        unit_prices,
        price_version,
        request_ids,
        charge,
        unknown_reason,
        resolution,
        resolution_note,
        references,
        input_amount,
    ) in qs.iterator(chunk_size=2000):
        input_tokens, output_tokens = tokens(usage)
        row = [
            created_at.astimezone(dt.UTC).isoformat(),
            str(generation),
            member or "",
            key_label,
            key_hint,
            persona,
            status,
            provider,
            model,
            width,
            height,
            quality,
            images,
            "" if input_tokens is None else input_tokens,
            "" if output_tokens is None else output_tokens,
            "" if megapixels(usage) is None else megapixels(usage),
            plain_usd(quote),
            plain_usd(amount),
            json.dumps(unit_prices, sort_keys=True, separators=(",", ":")),
            price_version,
            " ".join(str(rid) for rid in request_ids or []),
            CHARGE_LABELS.get(charge, charge),
            unknown_reason,
            RESOLUTION_LABELS.get(resolution, resolution),
            resolution_note,
            *_inputs(usage, references, amount, input_amount),
        ]
        yield [_cell(value) for value in row]
