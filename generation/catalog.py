"""The model catalog: which models exist, what they accept, and their unit prices (from catalog.toml)."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from generation.dates import show_day

CATALOG_FILE = Path(__file__).with_name("catalog.toml")


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True)
class Model:
    id: str
    provider: str
    label: str
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    backgrounds: tuple[str, ...]
    output_format: str
    price: dict[str, Any]
    default: bool = False
    shutdown: dt.date | None = None
    retired: dt.date | None = None
    token_table: dict[str, dict[str, int]] = field(default_factory=dict)
    # OpenAI edits: the `input_fidelity` the model takes ("high" keeps faces; gpt-image-1.5), or "".
    input_fidelity: str = ""

    @property
    def is_offered(self) -> bool:
        return self.retired is None

    def shutdown_warning(self, today: dt.date) -> str | None:
        """Return a warning when the provider has announced a shutdown date, else None.

        `today` is a UTC date (`generation.dates.utc_today()`). A model stays offered after its announced
        date: the date came from a mirror and is not confirmed. Once the provider answers that such a model
        does not exist, the workspace stops being offered it (`UnavailableModel`).
        """
        if self.shutdown is None or self.retired is not None:
            return None
        when = show_day(self.shutdown)
        if self.shutdown <= today:
            return f"{self.label} was scheduled to shut down on {when}; it may stop working at any moment."
        return f"{self.label} shuts down on {when}. Prefer a current model for work you will repeat."

    def max_output_tokens(self, size: str, quality: str) -> int:
        """Return the upper bound of output tokens for one image (OpenAI quotes)."""
        return self.token_table[size][quality]


@dataclass(frozen=True)
class Catalog:
    version: str
    models: dict[str, Model]

    def get(self, model_id: str) -> Model:
        try:
            return self.models[model_id]
        except KeyError:
            raise UnknownModel(model_id) from None

    def offered(self, providers: set[str] | None = None, *, unavailable: Collection[str] = ()) -> list[Model]:
        """Return the models a user may choose, for the given providers (all when None).

        `unavailable`: ids of models the provider said no longer exist for this workspace.
        """
        return [
            m
            for m in self.models.values()
            if m.is_offered and m.id not in unavailable and (providers is None or m.provider in providers)
        ]

    def default_for(self, provider: str) -> Model:
        offered = self.offered({provider})
        return next((m for m in offered if m.default), offered[0])


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@cache
def load() -> Catalog:
    """Parse catalog.toml once per process."""
    data = tomllib.loads(CATALOG_FILE.read_text())
    tables = data.get("token_tables", {})
    models: dict[str, Model] = {}
    for entry in data["models"]:
        table = tables.get(entry.get("token_table", ""), {})
        sizes = tuple(entry.get("sizes") or table.keys())
        models[entry["id"]] = Model(
            id=entry["id"],
            provider=entry["provider"],
            label=entry["label"],
            sizes=sizes,
            qualities=tuple(entry.get("qualities", ())),
            backgrounds=tuple(entry.get("backgrounds", ())),
            output_format=entry["output_format"],
            price=dict(entry["price"]),
            default=bool(entry.get("default", False)),
            shutdown=_date(entry.get("shutdown")),
            retired=_date(entry.get("retired")),
            token_table=table,
            input_fidelity=str(entry.get("input_fidelity", "")),
        )
    return Catalog(version=str(data["price_table_version"]), models=models)


def parse_size(size: str) -> tuple[int, int]:
    """Return (width, height) from "WxH"."""
    width, height = size.lower().split("x")
    return int(width), int(height)
