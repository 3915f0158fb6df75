"""A throwaway S3-compatible server for the test session: moto's standalone server on a free loopback port.

It speaks the S3 HTTP protocol, so the code under test goes through s3fs/botocore exactly as against a
real object store (no mock of the client library). ``env()`` gives the variables a client (or a Ray node
started from the test) needs: an endpoint and dummy credentials, the standard botocore way.
"""

from __future__ import annotations

import socket
import uuid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self) -> "S3Server":
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint, "CURATE_STORE_ENDPOINT": self.endpoint}

    def create_bucket(self) -> str:
        """A fresh, empty bucket (one per test, so tests never see each other's objects)."""
        import boto3

        name = f"curate-{uuid.uuid4().hex[:12]}"
        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        client.create_bucket(Bucket=name)
        return name
