"""Several avatars as one ZIP, written while it is sent: never the whole archive in memory.

`zipfile` writes to a small buffer that is emptied after every chunk; the archive's size in memory is a
chunk and the central directory, whatever the number and size of the images. The stream cannot seek, so
`zipfile` follows each entry with a data descriptor (its CRC and sizes), which every unzip tool reads.
Images are stored, not deflated: PNG, JPEG and WebP are compressed already.
"""

from __future__ import annotations

import datetime
import logging
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models.fields.files import FieldFile

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024


class _Drain:
    """A write-only file for zipfile: it keeps what was written until `take()` empties it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its name inside the ZIP, where its bytes are stored, when it was made."""

    name: str
    file: FieldFile
    made: datetime.datetime  # the entry's date in the archive (ZIP dates have no time zone: UTC here)


def unique_names(names: Iterable[str]) -> list[str]:
    """Return `names` with repeats made distinct: `a.png`, `a-2.png`, `a-3.png`."""
    seen: set[str] = set()
    result = []
    for name in names:
        stem, dot, extension = name.rpartition(".")
        if not dot:
            stem, extension = name, ""
        candidate, counter = name, 1
        while candidate in seen:
            counter += 1
            candidate = f"{stem}-{counter}{dot}{extension}"
        seen.add(candidate)
        result.append(candidate)
    return result


def stream_zip(entries: Iterable[Entry]) -> Iterator[bytes]:
    """Yield a ZIP archive of `entries`, chunk by chunk; a file missing from storage is left out."""
    drain = _Drain()
    with zipfile.ZipFile(drain, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for entry in entries:
            try:
                source = entry.file.open("rb")
            except FileNotFoundError:  # deleted since the request was checked
                logger.warning("left %s out of a ZIP: its file is gone", entry.name)
                continue
            made = entry.made.astimezone(datetime.UTC)
            info = zipfile.ZipInfo(entry.name, date_time=made.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            with source, archive.open(info, mode="w") as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    if data := drain.take():
                        yield data
            if data := drain.take():
                yield data
    yield drain.take()  # the central directory, written on close
