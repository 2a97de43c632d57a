"""What every call to a hosted image API goes through, written once for the four providers: the key
(read from the environment, and kept out of every message), the command's budget of calls
(`--max-calls`), a slot among the few calls to one provider that may run at once, the request
itself (httpx, retried with backoff on 429, 5xx and lost connections, within a timeout), and the
answer read as JSON or refused in one line. `hosted.py` holds what the backends share besides.

The slots are lock files in the cache folder, so the limit holds across every process that shares
the cache (a farm's workers on one host, two builds at once), not only within one build. A
provider's words reach a message only through `said`: whatever a server echoes back (a proxy that
repeats the Authorization header), a key is never printed.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..context import OpContext, OpError

KEY_ENVS: set[str] = set()  # the environment variables keys were read from: what `said` redacts
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
LIMIT = 4  # calls to one provider at once (option `concurrency`)
_counting = threading.Lock()


def api_key(env: str, provider: str) -> str:
    KEY_ENVS.add(env)
    key = os.environ.get(env, "").strip()
    if not key:
        raise OpError(f"{provider} needs an API key: set {env} in the environment (brief never reads keys from "
                      "files and never writes them anywhere)")
    return key


def said(text, limit: int = 300) -> str:
    """A provider's words as they may go into a message: on one line, cut to `limit`, every key redacted."""
    text = " ".join(str(text).split())
    for env in KEY_ENVS:
        key = os.environ.get(env, "").strip()
        if len(key) >= 4:
            text = text.replace(key, "***")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def timeout(ctx: OpContext) -> float:
    """Seconds to wait for one answer (option `timeout`)."""
    return float(ctx.options.get("timeout", 300))


def retries(ctx: OpContext) -> int:
    return int(ctx.options.get("retries", 3))


# ── the budget and the slots ────────────────────────────────────────────────────────────────────


def new_build(options: dict) -> None:
    """A build starts (its backend is locked as it compiles): its calls are counted from zero, so a
    watch session's budget is each rebuild's, not the session's."""
    options["_hosted_calls"] = 0


class Budget:
    """A command's `--max-calls` shared by every build it makes: a render's variants, whichever process
    renders them (on a farm a Ray actor holds it: runtime/farm.py). Without one, each build counts
    its own calls (a watch session's rebuilds each have the whole budget)."""

    def __init__(self, limit: int):
        self.limit, self.spent = int(limit), 0
        self._lock = threading.Lock()

    def take(self, calls: int, dry: bool = False) -> bool:
        """Spend `calls` if they fit (`dry`: only say whether they would)."""
        with self._lock:
            if self.spent + calls > self.limit:
                return False
            if not dry:
                self.spent += calls
            return True


def _over(ctx: OpContext, calls: int, spend: bool) -> bool:
    """Whether `calls` more calls pass the budget (spent when `spend` and they do not)."""
    shared = ctx.options.get("budget")
    if shared is not None:
        return not shared.take(calls, dry=not spend)
    budget = ctx.options.get("max_calls")
    if budget is not None and ctx.options.get("_hosted_calls", 0) + calls > int(budget):
        return True
    if spend:
        ctx.options["_hosted_calls"] = ctx.options.get("_hosted_calls", 0) + calls
    return False


def room(ctx: OpContext, calls: int, spend: bool = False) -> None:
    """Refuse, before its first call, a node that needs `calls` calls the budget has not left."""
    if _over(ctx, calls, spend):
        limit = ctx.options["budget"].limit if "budget" in ctx.options else ctx.options["max_calls"]
        raise OpError(f"the build would make more than {limit} hosted calls (--max-calls); raise the budget, "
                      "or render fewer variants")


@contextmanager
def call(ctx: OpContext, provider: str):
    """One call: counted against the budget, made in one of the provider's slots."""
    with _counting:
        room(ctx, 1, spend=True)
    with slot(Path(ctx.cache.root) / "slots", provider, int(ctx.options.get("concurrency", LIMIT))):
        yield


@contextmanager
def slot(folder: Path, provider: str, limit: int):
    """Hold one of `limit` slots of `provider` while the body runs: an exclusive lock on one of
    `limit` files in `folder`, waited for while all are held (by this process's threads or any
    other process's). Where the folder cannot hold locks, the call goes ahead."""
    with ExitStack() as files:
        try:
            import fcntl  # noqa: F401  (POSIX: elsewhere the call goes ahead)

            folder.mkdir(parents=True, exist_ok=True)
            slots = [files.enter_context(open(folder / f"{provider}-{i}.lock", "a")) for i in range(max(1, limit))]
        except (ImportError, OSError):
            slots = []
        pause = 0.01
        while slots and not _took(slots):
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        yield  # closing the files (on the way out) lets the slot taken go


def _took(slots: list) -> bool:
    """Lock a free one of `slots`; False when every one is held (True where locks cannot be held)."""
    import fcntl

    for fh in slots:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:  # held: try the next
            continue
        except OSError:  # a filesystem without locks: the call goes ahead
            return True
    return False


def record(ctx: OpContext, request_id) -> None:
    """A call made for this node: counted, and its request id kept beside the result (a node that
    makes several calls, an out-paint's margins, keeps each)."""
    ctx.meta["calls"] = ctx.meta.get("calls", 0) + 1
    ids = ctx.meta.setdefault("request_ids", [])
    if request_id:
        ids.append(str(request_id))


# ── the request and its answer ──────────────────────────────────────────────────────────────────


def transport_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of a request that got no answer, from httpx (and httpx2, which google-genai may use)."""
    import httpx

    found: list[type[BaseException]] = [httpx.TransportError]
    try:
        import httpx2  # type: ignore[import-not-found]

        found.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(found)


def unreachable(provider: str, exc: BaseException, seconds: float) -> OpError:
    """The one line for a request that got no answer: not reached, or no answer in time."""
    name = type(exc).__name__
    if "Timeout" in name and "Connect" not in name:
        return OpError(f"{provider} did not answer within {seconds:g} s ({name}); try again later, or check the "
                       "endpoint")
    return OpError(f"{provider} could not be reached ({name}); check the endpoint and the network")


class _Transient(Exception):
    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


def http(ctx: OpContext, provider: str, method: str, url: str, explain, **kwargs):
    """One request through httpx (for providers without an official client), retried with exponential
    backoff, honouring Retry-After, on 429, 5xx and lost connections; any other error status is one
    clear line with the provider's own message (`explain(response)`)."""
    import httpx
    import tenacity

    def wait(state) -> float:
        exc = state.outcome.exception()
        after = exc.response.headers.get("retry-after") if isinstance(exc, _Transient) else None
        try:
            return min(60.0, max(0.0, float(after)))
        except (TypeError, ValueError):
            return tenacity.wait_exponential_jitter(initial=0.5, max=20)(state)

    retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(retries(ctx) + 1), wait=wait, reraise=True,
                                 retry=tenacity.retry_if_exception_type((_Transient, httpx.TransportError)))
    try:
        with httpx.Client(timeout=timeout(ctx)) as client:
            for attempt in retrying:
                with attempt:
                    response = client.request(method, url, **kwargs)
                    if response.status_code in RETRY_STATUSES:
                        raise _Transient(response)
    except _Transient as exc:
        response = exc.response
    except httpx.TransportError as exc:
        raise unreachable(provider, exc, timeout(ctx)) from None
    if response.status_code >= 400:
        raise OpError(f"{provider} answered {response.status_code}: {said(explain(response))}")
    return response


def json_of(response, provider: str):
    """An answer's JSON; an answer that is not JSON (a proxy's HTML page) is one line."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise OpError(f"{provider} answered {response.status_code} with something that is not JSON ({kind}): "
                      f"{said(response.text, 120)}") from None


def explained(response, *fields: str) -> str:
    """The message of an error answer: the first of `fields` its JSON has (a list joined), else its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    for field in fields:
        value = body.get(field) if isinstance(body, dict) else None
        if value:
            return "; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v) for v in value) \
                if isinstance(value, list) else str(value)
    return str(body)
