"""The polite HTTP client: retries, Retry-After, bans, request weight, credentials kept out of messages."""

import base64

import httpx
import pytest

from runner.data.source.client import ClientSettings, HttpClient, HttpStatusError, WeightGovernor


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_weight_governor_waits_for_the_next_window_when_the_budget_is_spent() -> None:
    clock = Clock(1000.5)
    gov = WeightGovernor(limit=100, share=0.5, window_s=60, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        gov.acquire(10)  # 50 = the budget: no wait
    assert clock.slept == []
    gov.acquire(10)
    assert clock.slept == [pytest.approx(1020 - 1000.5 + WeightGovernor.MARGIN_S)]  # windows align to the clock
    gov.observe("45")  # the server counts more (another process): ours follows
    gov.acquire(10)
    assert len(clock.slept) == 2


def _client(handler, sleeps: list, **settings) -> HttpClient:
    return HttpClient(
        ClientSettings(**{"retries": 4, "backoff_s": 0.5, "max_backoff_s": 2.0, **settings}),
        sleep=sleeps.append,
        transport=httpx.MockTransport(handler),
    )


CASES = {
    # name: (responses in order, expected outcome, expected sleeps (None: any 3 back-offs))
    "429 then ok": ([(429, {"Retry-After": "4"}), (200, {})], b"ok", [4.0]),
    "503 503 ok": ([(503, {}), (503, {}), (200, {})], b"ok", None),
    "404 is final": ([(404, {})], 404, []),
    "400 is final": ([(400, {})], 400, []),
    "always 502": ([(502, {})] * 4, 502, None),
    "a ban longer than max_retry_after_s": ([(418, {"Retry-After": "86400"})], 418, []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_retries(case: str) -> None:
    answers, outcome, sleeps_expected = CASES[case]
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = answers[min(len(seen), len(answers) - 1)]
        seen.append(request)
        return httpx.Response(status, headers=headers, content=b"ok" if status == 200 else b'{"code":-1}')

    sleeps: list[float] = []
    client = _client(handler, sleeps)
    if isinstance(outcome, bytes):
        assert client.get("http://x/y") == outcome
    else:
        with pytest.raises(HttpStatusError) as err:
            client.get("http://x/y")
        assert err.value.status == outcome
    if sleeps_expected is None:
        assert len(sleeps) == len(seen) - 1 and all(0 < s <= 2.0 for s in sleeps)
    else:
        assert sleeps == sleeps_expected
    assert len(seen) == (4 if case == "always 502" else len(sleeps) + 1)


def test_transport_errors_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        return httpx.Response(200, content=b"done")

    sleeps: list[float] = []
    assert _client(handler, sleeps).get("http://x/y") == b"done" and len(sleeps) == 2


def test_a_mirror_password_goes_in_the_auth_header_never_in_urls_or_errors() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, content=b"nope")

    client = HttpClient(
        ClientSettings(retries=1),
        transport=httpx.MockTransport(handler),
        credentials={"mirror.example": ("bob", "s3cret")},
    )
    with pytest.raises(HttpStatusError) as err:
        client.get("https://mirror.example/data/x.zip")
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"bob:s3cret").decode()
    assert "s3cret" not in str(err.value) and "s3cret" not in str(seen[0].url)
