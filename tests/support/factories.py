"""Plain helpers that create personas, generations and images directly (no provider involved)."""

from __future__ import annotations

import datetime
import hashlib
import io
import uuid
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image

from accounts.models import User, Workspace
from generation.models import CostRecord, GeneratedImage, Generation, Persona
from generation.usage.roll_ups import roll_up


def make_persona(workspace: Workspace, user: User | None = None, **fields: Any) -> Persona:
    """Create a persona in `workspace`; `fields` override the defaults."""
    defaults = {"name": "Budget Ben", "role": "freelance designer", "art_style": Persona.ArtStyle.PHOTO}
    return Persona.objects.create(workspace=workspace, created_by=user, **{**defaults, **fields})


def make_generation(workspace: Workspace, user: User | None = None, **fields: Any) -> Generation:
    """Create a succeeded generation row; `fields` override the defaults."""
    persona = fields.get("persona")
    defaults = {
        "provider": "openai",
        "model": "gpt-image-2",
        "prompt": "A photo-realistic portrait photograph of a person.",
        "width": 1024,
        "height": 1024,
        "quality": "low",
        "output_format": "png",
        "quote_nanousd": 11_000_000,
        "status": Generation.Status.SUCCEEDED,
        "persona_name": persona.name if persona else "",
    }
    return Generation.objects.create(workspace=workspace, created_by=user, **{**defaults, **fields})


def png_bytes(width: int = 8, height: int = 8, color: tuple[int, int, int] = (91, 75, 219)) -> bytes:
    """Return a small, real PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def make_image(generation: Generation, index: int = 0, *, data: bytes | None = None) -> GeneratedImage:
    """Store a real PNG and its WebP thumbnail through the model's FileFields."""
    data = data or png_bytes()
    picture = Image.open(io.BytesIO(data))
    thumb = io.BytesIO()
    picture.save(thumb, "WEBP")
    name = uuid.uuid4().hex
    image = GeneratedImage(
        code=uuid.uuid4(),
        workspace=generation.workspace,
        generation=generation,
        index=index,
        width=picture.width,
        height=picture.height,
        content_type="image/png",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    image.file.save(f"{name}.png", ContentFile(data), save=False)
    image.thumbnail.save(f"{name}.thumb.webp", ContentFile(thumb.getvalue()), save=False)
    image.save()
    return image


def make_cost(
    generation: Generation,
    *,
    amount_nanousd: int | None = 11_090_000,
    created_at: datetime.datetime | None = None,
    usage: dict[str, Any] | None = None,
    save: bool = True,
    **fields: Any,
) -> CostRecord:
    """Create (or, with save=False, build for bulk_create) the cost record of `generation`."""
    if usage is None:
        usage = (
            {"images": [{"width": generation.width, "height": generation.height, "megapixels": 1}]}
            if generation.provider == "fal"
            else {"input_tokens": 42, "output_tokens": 272}
        )
    key = generation.provider_key if generation.provider_key_id else None
    fields.setdefault("provider_key", key)
    fields.setdefault("key_label", key.label if key else "")
    fields.setdefault("key_hint", key.hint if key else "")
    record = CostRecord(
        workspace=generation.workspace,
        generation=generation,
        created_by_id=generation.created_by_id,
        provider=generation.provider,
        model=generation.model,
        usage=usage,
        unit_prices={"text_input": 5000, "image_output": 30000},
        price_version="2026-11-26",
        amount_nanousd=amount_nanousd,
        provider_request_ids=[f"req_{generation.code.hex[:12]}"],
        images=generation.n,
        created_at=created_at or generation.created_at,
        **fields,
    )
    if save:
        record.save()
        roll_up([record])
    return record


def bulk_costs(
    workspace: Workspace,
    user: User | None,
    count: int,
    *,
    newest: datetime.datetime,
    step: datetime.timedelta = datetime.timedelta(minutes=7),
    amount_nanousd: int | None = 11_090_000,
    **fields: Any,
) -> list[CostRecord]:
    """Create `count` generations with their cost records in two queries, newest first, `step` apart."""
    defaults = {
        "provider": "openai",
        "model": "gpt-image-2",
        "prompt": "A portrait.",
        "width": 1024,
        "height": 1024,
        "quality": "low",
        "output_format": "png",
        "quote_nanousd": 12_000_000,
        "status": Generation.Status.SUCCEEDED,
        "persona_name": "Bulk Bea",
    }
    generations = Generation.objects.bulk_create(
        Generation(
            workspace=workspace, created_by=user, created_at=newest - i * step, **{**defaults, **fields}
        )
        for i in range(count)
    )
    records = CostRecord.objects.bulk_create(
        make_cost(generation, amount_nanousd=amount_nanousd, save=False) for generation in generations
    )
    roll_up(records)
    return records
