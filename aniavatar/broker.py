"""The embedded broker (`filesystem://`): kombu's filesystem transport, with messages published atomically.

kombu creates a message's file in the queue folder and only then writes its body. A worker polling the
folder can take the file in between: it reads nothing, its consumer dies on the empty JSON, and the
message is gone (the crash drills hit this). Here the body is written under a name the worker ignores and
renamed into place, so a worker only ever sees whole messages. `aniavatar.celery` registers this
transport for the `filesystem://` scheme, in the web processes that publish and the workers that consume.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL_SUFFIX = ".part"  # a worker reads only names ending in ".<queue>.msg"


class Channel(filesystem.Channel):
    # The signature of the channel this extends. kombu's own `filesystem.Channel._put` renames
    # `AbstractChannel._put(queue, message)`'s `message` to `payload` and adds **kwargs, so no signature
    # matches both; kombu-stubs ignore the same [override] on `filesystem.Channel._put`.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        """Put `payload` onto `queue`: write it whole under a partial name, then rename it into place."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # kombu's own order
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)  # atomic within the folder
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
