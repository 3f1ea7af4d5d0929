"""How tenantform talks HTTP to HCP Terraform: retries it can afford, and raw JSON where the SDK breaks.

pytfe 1.5.0 retries every request, POST included, on 429/502/503/504 and transport errors, with
a fixed exponential delay per thread. A retried `POST /runs` whose first attempt did reach the
server creates a second run that then blocks the workspace's queue. So `install_retry_policy`
turns the SDK's own retries off and puts this policy on its transport instead:

- 429 (rate limited): every method is retried (the server did not process the request), after
  `Retry-After` or an exponential delay with full jitter; the pause is shared by every thread
  of the client (a fleet's workers all wait, instead of each hammering the API on its own).
- 502/503/504 and transport errors: retried for idempotent methods only (GET, HEAD, PUT, PATCH,
  DELETE). A POST is never repeated here: the caller decides (tenantform/tfc/runs.py looks for
  the run on its configuration version before creating another).

`get_json` / `post_json` read documents without the SDK's pydantic models, for resources whose
models reject real values (the run status enum lacks `force_canceled`, `post_apply_running`,
`plan_queueable`, ...).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from pytfe.errors import RateLimited, ServerError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})


class SharedBackoff:
    """One pause for all threads of a client: after a 429 nobody sends until it has passed."""

    def __init__(self, *, base: float = 0.5, cap: float = 30.0, attempts: int = 6,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.base, self.cap, self.attempts = base, cap, attempts
        self._sleep, self._clock, self._rand = sleep, clock, rand
        self._lock = threading.Lock()
        self._not_before = 0.0
        self.waits: list[float] = []
        """Every pause taken (seconds), for tests and diagnostics."""

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one (plus up to 10% jitter), else full jitter."""
        if retry_after is not None and retry_after >= 0:
            return min(self.cap, retry_after * (1 + 0.1 * self._rand()))
        return self._rand() * min(self.cap, self.base * (2 ** attempt))

    def push(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def wait(self) -> None:
        with self._lock:
            pause = self._not_before - self._clock()
        if pause > 0:
            self.waits.append(pause)
            self._sleep(pause)


def install_retry_policy(tfe: Any, backoff: SharedBackoff) -> None:
    """Replace the retries of a `pytfe.TFEClient`'s transport by this module's policy."""
    transport = tfe._transport
    transport.max_retries = 0  # the SDK's loop raises at once; we decide below
    inner = transport.request

    def request(method: str, path: str, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            backoff.wait()
            try:
                return inner(method, path, **kwargs)
            except RateLimited as exc:
                if attempt + 1 >= backoff.attempts:
                    raise
                backoff.push(backoff.delay(attempt, exc.retry_after))
            except ServerError as exc:
                status = getattr(exc, "status", None)
                retriable = status is None or status in RETRY_STATUSES
                if method.upper() not in IDEMPOTENT or not retriable or attempt + 1 >= backoff.attempts:
                    raise
                backoff.push(backoff.delay(attempt, None))
            attempt += 1

    transport.request = request


def get_json(tfe: Any, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET a JSON:API document as plain data (no pydantic model)."""
    resp = tfe._transport.request("GET", path, params=params)
    return resp.json() if resp.content else {}


def post_json(tfe: Any, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = tfe._transport.request("POST", path, json_body=body)
    return resp.json() if resp.content else {}


def first_line(exc: BaseException) -> str:
    """`ClassName: first line of the message` - how an API error reaches a record or a report."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"[:500]
