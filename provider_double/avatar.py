"""Draw a simple, friendly placeholder avatar for the provider double."""

from __future__ import annotations

import colorsys
import hashlib
import io

from PIL import Image, ImageDraw

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _palette(digest: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """Return background, clothing and skin colours derived from a digest."""
    hue = digest[0] / 255
    background = colorsys.hls_to_rgb(hue, 0.82, 0.55)
    clothing = colorsys.hls_to_rgb((hue + 0.5) % 1.0, 0.42, 0.5)
    skin_tones = [(0.07, 0.80, 0.45), (0.07, 0.65, 0.45), (0.06, 0.50, 0.40), (0.06, 0.33, 0.40)]
    skin = colorsys.hls_to_rgb(*skin_tones[digest[1] % len(skin_tones)])

    def to_rgb(c: tuple[float, float, float]) -> tuple[int, int, int]:
        return (round(c[0] * 255), round(c[1] * 255), round(c[2] * 255))

    return to_rgb(background), to_rgb(clothing), to_rgb(skin)


def render_avatar(
    prompt: str,
    width: int,
    height: int,
    output_format: str = "png",
    *,
    variant: int = 0,
    transparent: bool = False,
) -> bytes:
    """Return an encoded head-and-shoulders avatar whose colours depend on the prompt."""
    digest = hashlib.sha256(f"{variant}:{prompt}".encode()).digest()
    background, clothing, skin = _palette(digest)
    fmt = output_format if output_format in CONTENT_TYPES else "png"
    # JPEG has no alpha channel; the real API also refuses transparency there.
    use_alpha = transparent and fmt != "jpeg"
    fill = (0, 0, 0, 0) if use_alpha else background
    image = Image.new("RGBA" if use_alpha else "RGB", (width, height), fill)
    draw = ImageDraw.Draw(image)

    unit = min(width, height)
    # Shoulders sit on the bottom edge of square and wide images; tall ones keep the figure centred.
    cx, bottom = width / 2, min(height, height / 2 + unit * 0.5)
    shoulder_w = unit * 0.78
    shoulder_top = bottom - unit * 0.34
    shoulder_h = unit * 0.34
    draw.ellipse((cx - shoulder_w / 2, shoulder_top, cx + shoulder_w / 2, bottom + shoulder_h), fill=clothing)
    # The torso continues to the bottom edge when the image is taller than the figure.
    draw.rectangle((cx - shoulder_w / 2, bottom, cx + shoulder_w / 2, height), fill=clothing)
    head_r = unit * 0.19
    head_cy = shoulder_top - head_r * 0.85
    neck_w = head_r * 0.7
    draw.rectangle((cx - neck_w / 2, head_cy, cx + neck_w / 2, shoulder_top + unit * 0.03), fill=skin)
    draw.ellipse((cx - head_r, head_cy - head_r, cx + head_r, head_cy + head_r), fill=skin)
    # A hairline and a smile make it read as a face at thumbnail size.
    hair = tuple(max(0, c - 90) for c in clothing)
    draw.chord((cx - head_r, head_cy - head_r, cx + head_r, head_cy + head_r * 0.6), 180, 360, fill=hair)
    eye_r = max(1.0, head_r * 0.08)
    for dx in (-0.35, 0.35):
        ex, ey = cx + dx * head_r, head_cy + head_r * 0.1
        draw.ellipse((ex - eye_r, ey - eye_r, ex + eye_r, ey + eye_r), fill=(40, 40, 50))
    smile = head_r * 0.45
    draw.arc(
        (cx - smile, head_cy + head_r * 0.05, cx + smile, head_cy + head_r * 0.6),
        20,
        160,
        fill=(90, 40, 40),
        width=max(1, round(head_r * 0.05)),
    )

    out = io.BytesIO()
    if fmt == "png":
        image.save(out, "PNG", compress_level=1)
    elif fmt == "jpeg":
        image.save(out, "JPEG", quality=85)
    else:
        image.save(out, "WEBP", quality=80, method=0)
    return out.getvalue()
