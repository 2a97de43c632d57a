"""A local HTTP server speaking the documented request and response shapes of the OpenAI Images API
(`POST /v1/images/generations` as JSON, `POST /v1/images/edits` as multipart form data; answers
`{"created", "data": [{"b64_json"}]}` with an `x-request-id` header; errors as `{"error": {...}}`),
for contract tests without the network. It records every request it is sent and answers with a
deterministic picture unlike what it was given (inverted, with noise), so a test can tell which
pixels came back from the service."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


class OpenAIImages:
    def __init__(self):
        self.requests: list[dict] = []
        self.fail_with: tuple[int, str] | None = None  # (status, message) to answer instead of an image
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                record = {"path": self.path, "authorization": self.headers.get("Authorization", "")}
                if self.path.endswith("/images/generations"):
                    record.update(json.loads(body))
                elif self.path.endswith("/images/edits"):
                    message = BytesParser(policy=HTTP).parsebytes(
                        b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                    for part in message.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        payload = part.get_payload(decode=True)
                        if part.get_filename():
                            record[name] = np.asarray(Image.open(io.BytesIO(payload)))
                        else:
                            record[name] = payload.decode()
                else:
                    self.send_error(404)
                    return
                server.requests.append(record)
                if server.fail_with:
                    status, text = server.fail_with
                    self._json(status, {"error": {"message": text, "type": "invalid_request_error", "code": None}})
                    return
                w, h = (int(v) for v in record.get("size", "1024x1024").split("x"))
                self._json(200, {"created": 1700000000, "data": [{"b64_json": _picture(record, w, h)}]})

            def _json(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", f"req_{len(server.requests):04d}")
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _picture(record: dict, w: int, h: int) -> str:
    """A deterministic image of the prompt, unlike any given image: the input
    (if any) inverted, plus a pattern seeded by the prompt."""
    seed = int.from_bytes(hashlib.sha256(str(record.get("prompt", "")).encode()).digest()[:4], "big")
    noise = np.random.default_rng(seed).integers(0, 60, (h, w, 3), dtype=np.uint8)
    given = record.get("image")
    if isinstance(given, np.ndarray):
        base = 255 - np.asarray(Image.fromarray(given).convert("RGB").resize((w, h)))
    else:
        base = np.full((h, w, 3), 90, np.uint8)
    out = (base.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)
    data = io.BytesIO()
    Image.fromarray(out).save(data, format="PNG", compress_level=0)
    return base64.b64encode(data.getvalue()).decode()


class GeminiImages:
    """The documented shape of Gemini's `POST /v1beta/models/{model}:generateContent` with image
    output (`contents[].parts[]` of text and `inlineData`; answered with
    `candidates[0].content.parts[].inlineData` and a `responseId`; errors as `{"error": {code,
    message, status}}`). Records every request; answers like `OpenAIImages`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_with: tuple[int, str] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if ":generateContent" not in self.path:
                    self.send_error(404)
                    return
                parts = [p for c in body["contents"] for p in c["parts"]]
                record = {"path": self.path, "key": self.headers.get("x-goog-api-key", ""),
                          "prompt": " ".join(p["text"] for p in parts if "text" in p),
                          "config": body.get("generationConfig", {})}
                for p in parts:
                    inline = p.get("inlineData") or p.get("inline_data")
                    if inline:
                        data = inline["data"]  # base64, URL-safe as the SDK sends bytes
                        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
                        record["image"] = np.asarray(Image.open(io.BytesIO(raw)))
                server.requests.append(record)
                if server.fail_with:
                    status, text = server.fail_with
                    self._json(status, {"error": {"code": status, "message": text, "status": "INVALID_ARGUMENT"}})
                    return
                aspect = record["config"].get("imageConfig", {}).get("aspectRatio", "1:1")
                from brief.runtime.backends.gemini import ASPECTS

                w, h = ASPECTS[aspect]
                image = {"inlineData": {"mimeType": "image/png", "data": _picture(record, w, h)}}
                self._json(200, {"candidates": [{"content": {"role": "model", "parts": [image]},
                                                 "finishReason": "STOP"}],
                                 "responseId": f"resp-{len(server.requests):04d}"})

            def _json(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    __enter__ = OpenAIImages.__enter__
    __exit__ = OpenAIImages.__exit__


def _parse_multipart(headers, body: bytes) -> dict:
    """A multipart form's fields: files as arrays, the rest as text."""
    head = b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    record: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename() and payload:
            record[name] = np.asarray(Image.open(io.BytesIO(payload)))
        elif not part.get_filename():
            record[name] = payload.decode()
    return record


def _b64image(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


class _Server:
    """What the servers below share: a threaded loopback server, requests recorded, a queue of
    transient failures (`busy`: statuses answered before the real answer) and a lasting one."""

    handler: type

    def __init__(self):
        self.requests: list[dict] = []
        self.busy: list[int] = []  # statuses to answer first, one per request (429, 503: retried)
        self.fail_with: tuple[int, str] | None = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    __enter__ = OpenAIImages.__enter__
    __exit__ = OpenAIImages.__exit__


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    @property
    def owner(self):
        return self.server.owner  # type: ignore[attr-defined]

    def _send(self, status: int, data: bytes, kind: str, **headers):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), str(value))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, payload: dict, **headers):
        self._send(status, json.dumps(payload).encode(), "application/json", **headers)


def _png(record: dict, w: int, h: int) -> bytes:
    return base64.b64decode(_picture(record, w, h))


class BFLImages(_Server):
    """The documented shape of the BFL API: `POST /v1/{model}` (JSON, key in `x-key`) answered with
    `{"id", "polling_url"}`; `GET` of the polling URL answered `Pending` once, then `Ready` with
    `result.sample`, a URL the picture is downloaded from; errors as `{"detail": …}`; a 429 with
    Retry-After when too many tasks are active. `moderate` answers `Content Moderated` instead."""

    moderate = False

    class handler(_Handler):  # noqa: N801
        def do_POST(self):  # noqa: N802
            owner = self.owner
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            record = {"path": self.path, "key": self.headers.get("x-key", ""), "model": self.path.rsplit("/", 1)[-1],
                      **{k: (_b64image(v) if k in ("image", "mask", "input_image") else v) for k, v in body.items()}}
            owner.requests.append(record)
            if owner.busy:
                self._json(owner.busy.pop(0), {"detail": "Too many active tasks"}, retry_after=0)
                return
            if owner.fail_with:
                status, text = owner.fail_with
                self._json(status, {"detail": text})
                return
            job = f"job-{len(owner.requests):04d}"
            record["job"], record["polls"] = job, 0
            self._json(200, {"id": job, "polling_url": f"{owner.url}/v1/get_result?id={job}"})

        def do_GET(self):  # noqa: N802
            owner = self.owner
            if self.path.startswith("/v1/get_result?id="):
                job = self.path.split("=", 1)[1]
                record = next((r for r in owner.requests if r.get("job") == job), None)
                if record is None or self.headers.get("x-key") != record["key"]:
                    self._json(200 if record is None else 403, {"id": job, "status": "Task not found"})
                    return
                record["polls"] += 1
                if record["polls"] == 1:
                    self._json(200, {"id": job, "status": "Pending", "result": None})
                elif owner.moderate:
                    self._json(200, {"id": job, "status": "Content Moderated", "result": None})
                else:
                    sample = f"{owner.url}/delivery/{job}.png"
                    result = {"sample": sample, "seed": record.get("seed")}
                    self._json(200, {"id": job, "status": "Ready", "result": result})
            elif self.path.startswith("/delivery/"):
                job = self.path.split("/")[-1].removesuffix(".png")
                record = next(r for r in owner.requests if r.get("job") == job)
                record["delivery_key"] = self.headers.get("x-key")  # a signed URL: no key is sent there
                given = record.get("image", record.get("input_image"))
                if isinstance(given, np.ndarray):
                    h, w = given.shape[:2]
                elif "width" in record:
                    w, h = record["width"], record["height"]
                else:
                    a, b = (int(v) for v in record.get("aspect_ratio", "1:1").split(":"))
                    w, h = round(1024 * (a / b) ** 0.5), round(1024 / (a / b) ** 0.5)
                self._send(200, _png(record, w, h), "image/png")
            else:
                self.send_error(404)


class StabilityImages(_Server):
    """The documented shape of Stability's v2beta Stable Image API: multipart `POST
    /v2beta/stable-image/generate/{sd3,core,ultra}` and `/edit/{inpaint,erase}` with `authorization:
    Bearer` and `accept: image/*`, answered with the picture's bytes and `finish-reason` and `seed`
    headers (an edit's answer has the size it was sent); errors as `{"id", "name", "errors": […]}`.
    `filtered` answers finish-reason CONTENT_FILTERED."""

    filtered = False

    class handler(_Handler):  # noqa: N801
        def do_POST(self):  # noqa: N802
            owner = self.owner
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            record = {"path": self.path, "authorization": self.headers.get("authorization", ""),
                      "accept": self.headers.get("accept", ""), **_parse_multipart(self.headers, body)}
            owner.requests.append(record)
            if not self.path.startswith("/v2beta/stable-image/"):
                self._json(404, {"id": "e404", "name": "not_found", "errors": [f"no route {self.path}"]})
                return
            if owner.busy:
                self._json(owner.busy.pop(0), {"id": "e503", "name": "server_error", "errors": ["try again"]})
                return
            if owner.fail_with:
                status, text = owner.fail_with
                self._json(status, {"id": "e400", "name": "bad_request", "errors": [text]})
                return
            if "image" in record:
                h, w = record["image"].shape[:2]
            else:
                from brief.runtime.backends.stability import ASPECTS

                w, h = ASPECTS[record.get("aspect_ratio", "1:1")]
            self._send(200, _png(record, w, h), "image/png", seed=record.get("seed", 0),
                       finish_reason="CONTENT_FILTERED" if owner.filtered else "SUCCESS")


class Faulty(_Server):
    """A server that answers every request (any path, POST or GET) as `answer(server, method, path)`
    says: `(status, body, content type)` or `(status, body, content type, headers)`, or None to hang
    until the server closes. Records each request's method, path and headers. For the faults a
    provider's answer can carry: error statuses, non-JSON, malformed JSON, pictures that are not."""

    def __init__(self, answer):
        self.answer = answer
        self.closing = threading.Event()
        super().__init__()

    def __exit__(self, *exc):
        self.closing.set()  # a hanging handler lets go
        super().__exit__(*exc)

    class handler(_Handler):  # noqa: N801
        def do_POST(self):  # noqa: N802
            owner = self.owner
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            owner.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
            answer = owner.answer(owner, self.command, self.path)
            if answer is None:
                owner.closing.wait(30)
                return
            status, body, kind, *headers = answer
            self._send(status, body if isinstance(body, bytes) else json.dumps(body).encode(), kind,
                       **(headers[0] if headers else {}))

        do_GET = do_POST
