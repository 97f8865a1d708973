"""One polite HTTP client for every download: httpx for connections, tenacity for retries.

Transient failures (timeouts, resets, truncated bodies, HTTP 429/418/5xx) are retried with
exponential back-off and jitter; a ``Retry-After`` header is honoured exactly. REST calls declare
their request weight, and the client keeps the weight used in Binance's window (read back from
``X-MBX-USED-WEIGHT-1M``) under a share of the limit.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

RETRY_STATUS = frozenset({408, 418, 429, 500, 502, 503, 504})
WEIGHT_HEADER = "x-mbx-used-weight-1m"


@dataclass(frozen=True)
class ClientSettings:
    """The ``source.*`` keys that shape the client (see ``conf/datastore.yaml``)."""

    timeout_s: float = 30.0
    retries: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0
    workers: int = 4
    weight_limit: int = 2400
    weight_share: float = 0.5
    weight_window_s: float = 60.0


class HttpStatusError(Exception):
    """A response that retrying will not fix (or that stayed bad through every retry)."""

    def __init__(self, url: str, status: int, body: bytes, retry_after: float | None = None):
        self.url, self.status, self.body, self.retry_after = url, status, body, retry_after
        snippet = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
        super().__init__(f"GET {url}: HTTP {status}" + (f" ({snippet})" if snippet else ""))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: Binance sends seconds; treat others as unknown
        return None


class WeightGovernor:
    """Keeps the request weight spent in the exchange's window under ``share x limit``.

    Windows are aligned to the wall clock, as Binance counts weight per UTC minute; the server's own
    count (``X-MBX-USED-WEIGHT-1M``) wins over ours, so weight spent by other processes on the same
    address is respected too.
    """

    MARGIN_S = 0.05  # sleep this much past a window's end: clocks are never exactly aligned

    def __init__(self, limit: int, share: float, window_s: float, clock=time.time, sleep=time.sleep):
        self.budget = max(1, int(limit * share))
        self.window_s = window_s
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._used = 0
        self._window = -1
        self.waited_s = 0.0

    def _roll(self) -> float:
        now = self._clock()
        window = int(now // self.window_s)
        if window != self._window:
            self._window, self._used = window, 0
        return now

    def acquire(self, weight: int) -> None:
        with self._lock:
            now = self._roll()
            if self._used + weight > self.budget:
                pause = (self._window + 1) * self.window_s - now + self.MARGIN_S
                self.waited_s += pause
                self._sleep(pause)
                self._roll()
            self._used += weight

    def observe(self, used: str | None) -> None:
        try:
            value = int(used) if used is not None else None
        except ValueError:
            value = None
        if value is not None:
            with self._lock:
                self._roll()
                self._used = max(self._used, value)


class HttpClient:
    """GET with retries, Retry-After, request-weight accounting and a shared connection pool."""

    def __init__(
        self,
        settings: ClientSettings,
        sleep: Callable[[float], None] = time.sleep,
        transport=None,
        credentials: dict[str, tuple[str, str]] | None = None,
    ):
        self.settings = settings
        self._credentials = credentials or {}
        self._sleep = sleep
        limits = httpx.Limits(max_connections=max(2, settings.workers * 2), max_keepalive_connections=settings.workers)
        self._client = httpx.Client(
            timeout=settings.timeout_s,
            limits=limits,
            headers={"User-Agent": "perplab-data/1"},
            follow_redirects=True,
            transport=transport,
        )
        self.weights = WeightGovernor(
            settings.weight_limit, settings.weight_share, settings.weight_window_s, sleep=sleep
        )
        self.requests = 0
        self.retried = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, params: dict | None = None, weight: int = 0) -> bytes:
        """The body of a successful GET; ``HttpStatusError`` for a final bad status, the last
        ``httpx.TransportError`` when the connection kept failing."""
        retrying = Retrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(self._transient),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        return retrying(self._get_once, url, params, weight)

    def _get_once(self, url: str, params: dict | None, weight: int) -> bytes:
        if weight:
            self.weights.acquire(weight)
        self.requests += 1
        auth = self._credentials.get(httpx.URL(url).host)
        response = self._client.get(url, params=params, auth=auth) if auth else self._client.get(url, params=params)
        self.weights.observe(response.headers.get(WEIGHT_HEADER))
        if response.status_code >= 400:
            raise HttpStatusError(str(response.url), response.status_code, response.content, _retry_after(response))
        return response.content

    @staticmethod
    def _transient(exc: BaseException) -> bool:
        if isinstance(exc, HttpStatusError):
            return exc.status in RETRY_STATUS
        return isinstance(exc, httpx.TransportError)

    def _stop(self, state: RetryCallState) -> bool:
        if stop_after_attempt(self.settings.retries)(state):
            return True
        exc = state.outcome.exception() if state.outcome else None
        # an IP ban or a long throttle: fail now with the server's answer rather than sleep for hours
        return isinstance(exc, HttpStatusError) and (exc.retry_after or 0.0) > self.settings.max_retry_after_s

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, HttpStatusError) and exc.retry_after is not None:
            return exc.retry_after
        backoff = wait_exponential_jitter(
            multiplier=self.settings.backoff_s, max=self.settings.max_backoff_s, jitter=self.settings.backoff_s
        )
        return backoff(state)

    def _count_retry(self, state: RetryCallState) -> None:
        self.retried += 1
