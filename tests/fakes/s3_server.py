"""A local S3-compatible server speaking the real wire protocol: moto's server mode, in a process of its own.

Sandgate talks to it exactly as to a bucket of AWS, Supabase Storage, R2 or MinIO: django-storages and boto3
over HTTP, signed requests and all. Readiness is read from its own log line, never slept for.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

from tests.processes import Output, free_port

ACCESS_KEY = "sandgate-test-key"
SECRET_KEY = "sandgate-test-secret"
REGION = "us-east-1"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,  # in the test run's process group: a run stopped with Ctrl-C stops it too
        )
        Output(self.proc.stdout, name="moto's server").wait_for(
            rf"Running on http://127\.0\.0\.1:{self.port}", timeout=60
        )  # and drained for its whole life, so its writes never block
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def settings(self, bucket: str) -> dict:
        """The settings (and environment variables) that point Sandgate's storage at `bucket` here."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"sandgate-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name
