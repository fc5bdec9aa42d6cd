"""The embedded broker never shows a worker half a message (which the worker would lose)."""

from __future__ import annotations

import json
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from aniavatar import broker


@pytest.fixture
def channel(tmp_path: Path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    with Connection("filesystem://", transport_options=options) as connection:
        yield connection.default_channel


def test_the_filesystem_scheme_uses_the_atomic_transport(channel):
    assert isinstance(channel, broker.Channel)


def test_a_worker_polling_while_a_message_is_written_finds_nothing(channel, monkeypatch):
    # Poll the queue at the worst moment: while the message's body is being produced. kombu's own
    # transport has created the file by then, so the poll takes an empty message (JSONDecodeError) and
    # the real one is lost; ours writes under a name that no worker reads.
    polled = []

    def dumps_while_a_worker_polls(payload: dict) -> str:
        try:
            polled.append(channel._get("celery"))
        except Empty:
            polled.append(None)
        return json.dumps(payload)

    monkeypatch.setattr(broker, "dumps", dumps_while_a_worker_polls)
    monkeypatch.setattr(filesystem, "dumps", dumps_while_a_worker_polls)
    channel._put("celery", {"body": "generation 42"})
    assert polled == [None]
    assert channel._get("celery") == {"body": "generation 42"}
    with pytest.raises(Empty):
        channel._get("celery")
