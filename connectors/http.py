"""One HTTP client for every connector: httpx with tenacity retries that honour 429 Retry-After and burst windows.

The token goes in a header only (never the URL), so it cannot reach a log line or an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_attempt

log = logging.getLogger(__name__)


class ConnectorError(RuntimeError):
    """The CRM refused a request or stayed unreachable; the message says which request and why (no token).
    ``status`` is the HTTP status of a refusal (None when the CRM was never reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(ConnectorError):
    def __init__(self, wait: float, message: str) -> None:
        super().__init__(message)
        self.wait = wait


class Unavailable(ConnectorError):
    """A 5xx answer or a transport error: worth retrying."""


MAX_WAIT_SECONDS = 60.0


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait from Retry-After, else the burst window's reset (Pipedrive x-ratelimit-reset, HubSpot's
    interval), else one second."""
    headers = response.headers
    for name in ("retry-after", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                return min(max(float(value), 0.0), MAX_WAIT_SECONDS)
            except ValueError:
                continue
    interval = headers.get("x-hubspot-ratelimit-interval-milliseconds")
    if interval is not None and interval.isdigit():
        return min(int(interval) / 1000.0, MAX_WAIT_SECONDS)
    return 1.0


def _window_exhausted(response: httpx.Response) -> float:
    """Seconds until the burst window reopens when this answer used its last request (0: carry on)."""
    headers = response.headers
    remaining = headers.get("x-ratelimit-remaining") or headers.get("x-hubspot-ratelimit-remaining")
    if remaining is not None and remaining.strip() == "0":
        return _retry_after(response)
    return 0.0


class ApiClient:
    """JSON over HTTP against one CRM: retries 429 (after the wait it names), 5xx and dropped connections."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=dict(headers), timeout=timeout)
        self._sleep = sleep
        self.attempts = attempts
        self.requests = 0
        self.waited = 0.0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            return float(exc.wait)
        return min(0.2 * 2.0 ** (state.attempt_number - 1), 5.0)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        def sleep_and_count(seconds: float) -> None:
            self.waited += seconds
            self._sleep(seconds)

        @retry(
            retry=retry_if_exception_type((RateLimited, Unavailable)),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            sleep=sleep_and_count,
            reraise=True,
        )
        def once() -> Any:
            self.requests += 1
            try:
                response = self._client.request(
                    method, path, params=params, json=json, headers=dict(headers) if headers else None
                )
            except httpx.TransportError as exc:
                raise Unavailable(f"{method} {path}: {type(exc).__name__}") from None
            if response.status_code == 429:
                raise RateLimited(_retry_after(response), f"{method} {path}: rate limited (429)")
            if response.status_code >= 500:
                raise Unavailable(f"{method} {path}: {response.status_code}")
            if response.status_code >= 400:
                detail = response.text[:300]
                raise ConnectorError(
                    f"{method} {path} was refused ({response.status_code}): {detail}", response.status_code
                )
            pause = _window_exhausted(response)
            if pause:
                log.info("burst window used up; waiting %.1fs", pause)
                sleep_and_count(pause)
            return response.json() if response.content else None

        try:
            return once()
        except RateLimited as exc:
            raise ConnectorError(f"{exc} {self.attempts} times in a row; try again later") from None
        except Unavailable as exc:
            raise ConnectorError(f"{exc}, {self.attempts} attempts; is {self.base_url} reachable?") from None
