"""Webhook delivery of saved-search alerts: the address policy, HMAC signatures and the outbox drain.

Policy (checked when a webhook is saved and again before every call, on every address the host
resolves to; the connection then goes to the checked address, so a DNS answer that changes in between
cannot redirect it, and redirects are not followed):
  - http or https only, with a host; no user:password in the URL;
  - always refused: link-local (169.254.0.0/16 with the cloud metadata address 169.254.169.254,
    fe80::/10), multicast, unspecified (0.0.0.0, ::), reserved and broadcast addresses;
  - private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1) and shared (100.64/10)
    addresses only with the setting webhook_allow_private (a receiver on the same host or network).

Each call POSTs the stored body (the same bytes every attempt) with
  X-Statement-Search-Delivery: <id>                     stable per alert: receivers dedupe on it
  X-Statement-Search-Signature: sha256=<hex HMAC-SHA256 of the body with the saved search's secret>
A delivery is marked delivered only after a 2xx answer; anything else (an error status, a refused or
timed-out connection) schedules the next attempt with exponential backoff (2 s, 4 s, ... capped at one
hour), forever, until it is delivered or its saved search is removed. A crash between the receiver's
2xx and the mark can repeat a call with the same delivery id, never lose one: at-least-once delivery
with an idempotency key, which is what "exactly once" can mean over HTTP.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout

from .errors import SearchError
from .watchlists import Delivery, WatchlistStore

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Statement-Search-Signature"
DELIVERY_HEADER = "X-Statement-Search-Delivery"
BACKOFF_BASE = 2.0       # seconds before the first retry; doubled after each failure
BACKOFF_MAX = 3600.0
MAX_URL = 2000
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not public


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("statement-search")
    except Exception:
        return "0"


def _address_problem(address: str, allow_private: bool) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return "a link-local address (the cloud metadata service lives there)"
    if ip.is_multicast or ip.is_unspecified or str(ip) == "255.255.255.255":
        return "a multicast, unspecified or broadcast address"
    if ip.is_loopback or ip.is_private or (ip.version == 4 and ip in _SHARED):
        return None if allow_private else \
            "a private or loopback address (allowed only with the setting webhook_allow_private)"
    if ip.is_reserved:  # after loopback: Python counts ::1 as reserved (::/8)
        return "a reserved address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address is itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SearchError(f"webhook host {host!r} does not resolve ({exc.strerror})", code="invalid_webhook") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: Any, allow_private: bool = False) -> tuple[str, str, int, list[str]]:
    """(url, host, port, allowed addresses) of a webhook URL under the policy above; SearchError
    (invalid_webhook) otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise SearchError("webhook must be an http(s) URL", code="invalid_webhook")
    url = url.strip()
    if len(url) > MAX_URL:
        raise SearchError(f"webhook URL is longer than {MAX_URL} characters", code="invalid_webhook")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise SearchError(f"webhook URL is malformed ({exc})", code="invalid_webhook") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SearchError(f"webhook must be an http:// or https:// URL with a host, got {url!r}",
                          code="invalid_webhook")
    if parts.username or parts.password:
        raise SearchError("webhook URL must not hold a user name or password (the body is signed instead)",
                          code="invalid_webhook")
    host = parts.hostname
    addresses = resolve(host, port)
    for address in addresses:
        problem = _address_problem(address, allow_private)
        if problem:
            raise SearchError(f"webhook host {host} is {problem}: {address}", code="disallowed_webhook")
    return url, host, port, addresses


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: sha256=<hex HMAC-SHA256 of body with secret>."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: compare the header with its own signature in constant time."""
    return hmac.compare_digest(sign(secret, body), header or "")


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(delivery: Delivery, allow_private: bool, timeout: float) -> int:
    """One signed POST of a delivery to its URL (pinned to a checked address); the HTTP status."""
    url, host, port, addresses = check_url(delivery.url, allow_private)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = delivery.body.encode("utf-8")
    cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    conn = cls(host, addresses[0], port, timeout)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": f"statement-search/{_version()}",
            DELIVERY_HEADER: delivery.id, SIGNATURE_HEADER: sign(delivery.secret, body)})
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status
    finally:
        conn.close()


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0       # attempts that failed this run (each is retried later)
    pending: int = 0      # still in the outbox afterwards
    busy: bool = False    # another process was delivering: this one did nothing


def deliver_due(store: WatchlistStore, allow_private: bool = False, timeout: float = 10.0,
                now: Callable[[], float] = time.time, limit: int = 1000,
                send: Callable[[Delivery, bool, float], int] = post) -> DeliveryReport:
    """Send every due delivery once, oldest first and in order per receiver; one process at a time per
    outbox (a file lock), so two runs never send the same delivery concurrently."""
    report = DeliveryReport()
    lock = FileLock(str(Path(f"{store.path}.deliver.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        report.busy = True
        return report
    try:
        # In order per receiver: once one of its alerts is backing off (or failed just now), its later
        # alerts wait behind it, so a receiver sees its alerts in the order they were found.
        waiting: set[str] = set()
        for delivery in store.undelivered(limit):
            if delivery.url in waiting:
                continue
            if delivery.next_at > now():
                waiting.add(delivery.url)
                continue
            try:
                status = send(delivery, allow_private, timeout)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except SearchError as exc:  # the URL is no longer allowed (or no longer resolves)
                error = exc.message
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                store.delivered(delivery.id, now())
                report.delivered += 1
            else:
                store.failed(delivery.id, error, now() + backoff(delivery.attempts + 1))
                waiting.add(delivery.url)
                report.failed += 1
                log.warning("webhook delivery %s failed (attempt %d): %s", delivery.id, delivery.attempts + 1, error)
    finally:
        lock.release()
    report.pending = store.outbox()["pending"]
    return report
