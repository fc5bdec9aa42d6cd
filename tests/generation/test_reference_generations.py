"""Generations from reference images (issue 19), through the worker against the provider double.

The cost the app records must equal what the double billed, input and output apart; a reference of
another workspace is never loaded, let alone sent.
"""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from generation import catalog, pipeline, references, services
from generation.models import CostRecord, Generation, PersonaReference
from tests.support.accounts import client_for, workspace_of
from tests.support.factories import make_persona
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)


def add_reference(user, persona, width: int = 1600, height: int = 1400) -> PersonaReference:
    """Store a reference photo the way the upload does (2.1 MP: scaled to 2 MP when sent)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, "JPEG")
    clean = references.clean_upload(out.getvalue())
    (row,) = services.add_references(persona=persona, photos=[("me.jpg", clean)], by=user)
    return row


def start(user, key, model_id: str, refs, *, n: int = 1, quality: str = "low") -> Generation:
    model = catalog.load().get(model_id)
    return services.start_generation(
        workspace=workspace_of(user),
        user=user,
        provider_key=key,
        model=model,
        prompt="The same person, smiling, in a park",
        size="1024x1024",
        quality=quality if model.qualities else "",
        n=n,
        references=refs,
        persona=next((r.persona for r in refs if isinstance(r, PersonaReference)), None),
    )


def run(generation: Generation) -> Generation:
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    return generation


@pytest.mark.parametrize("model_id", ["gpt-image-2", "gpt-image-1.5"])
def test_openai_edits_bill_image_input_tokens_exactly_within_the_quote(alice, double, model_id):
    persona = make_persona(workspace_of(alice), alice)
    ref = add_reference(alice, persona)
    generation = run(start(alice, make_key(alice, "openai"), model_id, [ref], n=2))
    assert generation.status == "succeeded", generation.error_message
    assert generation.images.count() == 2
    (sent,) = [r for r in double.requests() if r.endpoint == "openai.edit"]
    assert sent.path == "/v1/images/edits"
    cost = CostRecord.objects.get(generation=generation)
    assert cost.usage["input_tokens_details"]["image_tokens"] > 0
    (billed,) = double.billed("openai")
    assert (cost.amount_nanousd, cost.input_nanousd) == (billed.amount_nanousd, billed.input_nanousd)
    assert cost.amount_nanousd <= generation.quote_nanousd  # the documented assumption holds


def test_fal_edits_bill_input_megapixels_exactly_as_quoted(alice, double):
    persona = make_persona(workspace_of(alice), alice)
    refs = [add_reference(alice, persona), add_reference(alice, persona, 800, 600)]
    generation = run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", refs, n=2))
    assert generation.status == "succeeded", generation.error_message
    submits = [r for r in double.requests() if r.endpoint == "fal.submit"]
    assert {r.path for r in submits} == {"/fal/fal-ai/flux-2-max/edit"}
    urls = submits[0].json["image_urls"]
    assert len(urls) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in urls)
    cost = CostRecord.objects.get(generation=generation)
    billed = double.billed("fal")
    assert cost.amount_nanousd == sum(b.amount_nanousd for b in billed) == generation.quote_nanousd
    assert cost.input_nanousd == sum(b.input_nanousd for b in billed) == 2 * (2 + 1) * 30_000_000
    assert generation.quote_exact


def test_more_like_this_sends_the_avatar_as_the_reference(alice, double):
    key = make_key(alice, "fal")
    first = run(start(alice, key, "fal-ai/flux-2-pro", []))
    avatar = first.images.get()
    second = run(start(alice, key, "fal-ai/flux-2-pro", [avatar]))
    assert second.status == "succeeded", second.error_message
    assert second.references == [{"kind": "image", "code": str(avatar.code)}]
    last = [r for r in double.requests() if r.endpoint == "fal.submit"][-1]
    assert last.path == "/fal/fal-ai/flux-2-pro/edit" and len(last.json["image_urls"]) == 1


def test_a_reference_of_another_workspace_is_never_sent(alice, charlie, double):
    theirs = add_reference(charlie, make_persona(workspace_of(charlie), charlie))
    key = make_key(alice, "fal")
    with pytest.raises(services.GenerationRefused):
        start(alice, key, "fal-ai/flux-2-max", [theirs])
    # A row naming it anyway (written by hand, a bug): the worker looks it up in alice's workspace only.
    generation = start(alice, key, "fal-ai/flux-2-max", [])
    Generation.objects.filter(pk=generation.pk).update(
        references=[{"kind": "persona", "code": str(theirs.code)}]
    )
    generation = run(generation)
    assert generation.status == "failed"
    assert generation.error_message == pipeline.REFERENCE_GONE_MESSAGE
    assert not [r for r in double.requests() if r.endpoint.startswith("fal.")]
    assert not CostRecord.objects.filter(generation=generation).exists()


def test_a_deleted_reference_fails_before_anything_is_sent(alice, double):
    persona = make_persona(workspace_of(alice), alice)
    ref = add_reference(alice, persona)
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", [ref])
    ref.delete()
    assert run(generation).error_message == pipeline.REFERENCE_GONE_MESSAGE
    assert not [r for r in double.requests() if r.endpoint == "openai.edit"]


def test_the_csv_and_the_page_show_input_and_output_apart(alice, alice_client, double):
    persona = make_persona(workspace_of(alice), alice)
    generation = run(
        start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", [add_reference(alice, persona)])
    )
    (billed,) = double.billed("fal")
    (row,) = csv.DictReader(io.StringIO(alice_client.get("/usage.csv").getvalue().decode()))
    assert (row["reference_images"], row["input_megapixels"]) == ("1", "2")
    assert row["input_usd"] == f"{billed.input_nanousd / 1e9:.9f}"
    assert row["output_usd"] == f"{billed.output_nanousd / 1e9:.9f}"
    page = alice_client.get(f"/generations/{generation.code}/")
    assert b"1 reference image" in page.content and b"inputs $0.06" in page.content


def test_the_form_offers_the_personas_photos_and_more_like_this(alice, alice_client, double, charlie):
    persona = make_persona(workspace_of(alice), alice)
    ref = add_reference(alice, persona)
    make_key(alice, "fal")
    page = alice_client.get(f"/generate/?persona={persona.code}")
    assert f'value="{ref.code}"'.encode() in page.content and b"<bdi>me.jpg</bdi>" in page.content
    quote = alice_client.get(
        "/generate/quote/", {"persona": persona.code, "model": "fal-ai/flux-2-max", "size": "1024x1024",
                             "n": 1, "prompt": "x", "references": [ref.code]}
    )  # fmt: skip
    assert b"$0.13" in quote.content and b"Includes 1 reference image" in quote.content
    data = {"persona": persona.code, "model": "fal-ai/flux-2-max", "size": "1024x1024", "n": 1,
            "prompt": "A portrait", "references": [ref.code], "change": "outfit", "change_detail": "a red coat"}  # fmt: skip
    response = alice_client.post("/generate/", data)
    generation = Generation.objects.get()
    assert response["Location"] == f"/generations/{generation.code}/"
    assert generation.references == [{"kind": "persona", "code": str(ref.code)}]
    assert generation.prompt.endswith(
        "Keep the same person as in the reference image. Change the outfit: a red coat."
    )
    assert generation.quote_nanousd == 130_000_000
    # More like this, from an avatar of the workspace; another workspace's avatar is a 404.
    avatar = run(generation).images.get()
    like = alice_client.get(f"/generate/?like={avatar.code}")
    assert like.status_code == 200 and b'data-testid="more-like-this"' in like.content
    assert f'name="like" value="{avatar.code}"'.encode() in like.content
    assert client_for(charlie).get(f"/generate/?like={avatar.code}").status_code == 404
    page = alice_client.get(f"/personas/{persona.code}/")
    assert b"Consistent set" in page.content and str(avatar.code).encode() in page.content


def test_generate_again_keeps_the_references(alice, alice_client, double):
    persona = make_persona(workspace_of(alice), alice)
    ref = add_reference(alice, persona)
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", [ref])
    page = alice_client.get(f"/generate/?again={generation.code}")
    assert (
        f'value="{ref.code}" class="reference-choice" id="id_references_0" checked'.encode() in page.content
    )
