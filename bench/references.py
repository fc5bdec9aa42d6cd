"""Reference photos (issue 19): the upload's check and clean-up, and the copy sent to a provider.

A 40-megapixel JPEG (the largest upload taken) is cleaned as the upload view does (decode, orient,
strip, re-encode), then scaled to about 2 MP as the worker does before each edit; a decompression bomb
is refused from its header. Best of three runs each, in milliseconds; no database.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

from bench.harness import Report, log


def _photo(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    gradient.save(out, "JPEG", quality=85)
    return out.getvalue()


def _bomb(side: int) -> bytes:
    """A PNG of a few bytes whose header claims side × side pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _best_ms(runs: int, work: object) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


def run_references(report: Report, *, megapixels: int = 40) -> None:
    from generation import references

    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = megapixels * 1_000_000 // width
    log(f"references: a {width}×{height} JPEG, cleaned and scaled for a provider")
    upload = _photo(width, height)
    clean = references.clean_upload(upload)
    report.add(
        "references", f"clean_upload_{megapixels}mp_ms", _best_ms(3, lambda: references.clean_upload(upload))
    )
    report.add(
        "references",
        f"for_provider_{megapixels}mp_ms",
        _best_ms(3, lambda: references.for_provider(clean.data)),
    )
    sent = references.for_provider(clean.data)
    report.add("references", "sent_kib", len(sent.data) / 1024)
    bomb = _bomb(50_000)

    def refuse() -> None:
        try:
            references.clean_upload(bomb)
        except references.ReferenceRejected:
            return
        raise AssertionError("a decompression bomb was decoded")

    report.add("references", "bomb_refused_ms", _best_ms(3, refuse))
