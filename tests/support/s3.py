"""A real S3 API server on loopback (moto's, from PyPI), and the settings that put the app's files in it.

`s3_server()` starts moto's threaded server on a free 127.0.0.1 port; `S3Server.settings(bucket)` is the
STORAGES entry aniavatar.settings builds from AWS_STORAGE_BUCKET_NAME, and `env(bucket)` the variables
that make a web or worker process do the same.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
# moto accepts any credentials; these are its documented test values, not secrets.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    server: ThreadedMotoServer
    endpoint_url: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        """Create an empty bucket of a fresh name and return the name."""
        name = f"aniavatar-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Return every object's key in the bucket."""
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listing.get("Contents", []))

    def env(self, bucket: str) -> dict[str, str]:
        """The environment that makes a web or worker process store its files in `bucket`."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_S3_REGION_NAME": REGION,
            **CREDENTIALS,
        }

    def storages(self, bucket: str, base: dict[str, Any]) -> dict[str, Any]:
        """Return `base` (settings.STORAGES) with the default storage in `bucket`, as the settings make it."""
        from aniavatar.settings import s3_storage

        default = s3_storage(bucket, endpoint_url=self.endpoint_url, region_name=REGION)
        options = default["OPTIONS"]
        options["access_key"] = CREDENTIALS["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        return {**base, "default": default}


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """Run moto's S3 server on a free loopback port until the block ends."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(server, f"http://127.0.0.1:{port}")
    finally:
        with contextlib.suppress(Exception):
            server.stop()
