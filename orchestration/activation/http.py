"""One HTTP client for every destination: httpx with a connection pool, retries by tenacity.

Retried: timeouts and connection errors (refused, reset), 500, 502, 503, 504, 408 and 429.
The wait is exponential with full jitter (`initial` doubling up to `max_wait`); on 429 (and
503) a `Retry-After` header in seconds or as an HTTP date is honoured instead (up to
`retry_after_max`, 300 s; one that cannot be read falls back to the backoff). Other 4xx
answers are returned to the destination at once, which decides (a per-record rejection, or
a DeliveryError for the batch). A URL no resend can mend (a scheme other than http or
https, no host, one httpx cannot parse) fails the first attempt; destinations check their
URL settings with `check_url` when they open, so such a sync stops before sending anything.
Neither URLs (which may carry a token) nor headers are logged: the client logs the attempt
and the kind of failure.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from orchestration.activation.destinations.base import ConfigError, DeliveryError

log = logging.getLogger("cdp.sync.http")
# httpx logs every request's URL at INFO (and httpcore its traffic at DEBUG); a destination's
# URL may carry a token, so they say warnings only. This client logs method and status.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

RETRY_STATUS = {408, 429, 500, 502, 503, 504}
# Transport errors no resend can mend: the URL's scheme is not one httpx speaks, or it has
# no host. (httpx.InvalidURL, a URL it cannot parse, is no transport error: never retried.)
NOT_TRANSIENT = (httpx.UnsupportedProtocol,)


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait, or None when it says nothing readable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when else None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, NOT_TRANSIENT):
        return False
    return isinstance(exc, RetryableStatus | httpx.TimeoutException | httpx.TransportError)


def _url_problem(url: str) -> str | None:
    """What makes the URL unusable, in words that do not repeat it; None when it is fine."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "it holds a space or a control character"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "it cannot be parsed"
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        return "it does not start with http:// or https://"
    if scheme not in ("http", "https"):
        named = f"the scheme {scheme!r}" if len(scheme) <= 10 else "the scheme"
        return f"{named} is not http or https"
    if not parts.hostname:
        return "it has no host"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "the port is not a number from 1 to 65535"
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return "it cannot be parsed"
    return None


def url_setting(config: dict[str, Any], name: str) -> str:
    """How the sync's settings name a URL: `url`, or `url_env` (VARIABLE) when it came from
    the environment variable."""
    env = config.get(f"{name}_env")
    if env and config.get(name) and os.environ.get(env) == config.get(name):
        return f"`{name}_env` ({env})"
    return f"`{name}`"


def check_url(url: str, kind: str, setting: str) -> str:
    """The URL when it is one a request can go to: http or https, with a host. Otherwise a
    one-line ConfigError naming the setting to change (never the URL: it may carry a token
    or credentials)."""
    problem = _url_problem(url)
    if problem:
        raise ConfigError(f"{kind}: {setting} is not a usable URL: {problem}")
    return url


class RateLimiter:
    """At most `per_second` requests a second across threads (evenly spaced)."""

    def __init__(self, per_second: float | None):
        self.interval = 1.0 / per_second if per_second else 0.0
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


class Http:
    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        attempts: int = 6,
        initial: float = 0.5,
        max_wait: float = 30.0,
        retry_after_max: float = 300.0,
        per_second: float | None = None,
        pool: int = 8,
    ):
        self.client = httpx.Client(
            base_url=base_url,
            headers=headers or {},
            timeout=timeout,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self.attempts, self.initial, self.max_wait = attempts, initial, max_wait
        self.retry_after_max = retry_after_max
        self.limiter = RateLimiter(per_second)
        self.retries = 0  # counted for the sync log (approximate under threads)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatus) and exc.response.status_code in (429, 503):
            after = _retry_after(exc.response)
            if after is not None:
                return min(after, self.retry_after_max)
        return wait_random_exponential(multiplier=self.initial, max=self.max_wait)(state)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info("retry %d after %s", state.attempt_number, exc.__class__.__name__ if exc else "")

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """The response of the first attempt that is not retryable; DeliveryError when the
        attempts run out."""

        def attempt() -> httpx.Response:
            self.limiter.wait()
            response = self.client.request(method, url, **kw)
            if response.status_code in RETRY_STATUS:
                raise RetryableStatus(response)
            return response

        try:
            for tried in Retrying(
                retry=retry_if_exception(_retryable),
                stop=stop_after_attempt(self.attempts),
                wait=self._wait,
                before_sleep=self._before_sleep,
                reraise=True,
            ):
                with tried:
                    return attempt()
        except RetryableStatus as exc:
            raise DeliveryError(
                f"{method}: HTTP {exc.response.status_code} after {self.attempts} attempts"
            ) from exc
        except (*NOT_TRANSIENT, httpx.InvalidURL) as exc:
            # The URL is left out: it may carry a token.
            raise DeliveryError(
                f"{method}: {exc.__class__.__name__}: the URL cannot be used (not retried)"
            ) from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise DeliveryError(
                f"{method}: {exc.__class__.__name__} after {self.attempts} attempts"
            ) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.client.close()


def config_number(config: dict[str, Any], name: str, default: float | None) -> float | None:
    value = config.get(name, default)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"`{name}` must be a number, not {value!r}") from None


def http_options(config: dict[str, Any], per_second: float | None) -> dict[str, Any]:
    """Http keyword arguments from the sync's settings (timeout, attempts, retry_initial,
    retry_max_wait, retry_after_max, per_second)."""
    return {
        "timeout": config_number(config, "timeout", 30.0) or 30.0,
        "attempts": max(1, int(config_number(config, "attempts", 6) or 1)),
        "initial": config_number(config, "retry_initial", 0.5) or 0.0,
        "max_wait": config_number(config, "retry_max_wait", 30.0) or 0.0,
        "retry_after_max": config_number(config, "retry_after_max", 300.0) or 0.0,
        "per_second": config_number(config, "per_second", per_second) or None,
    }
