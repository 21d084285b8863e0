"""Who is asking: the client's address and scheme behind the store's tunnel or proxy, and
a per-address rate limit.

X-Forwarded-For / X-Forwarded-Proto are believed only from the proxy addresses the store
configured (`trusted_proxies`); from anyone else they are ignored, so a client cannot
choose the address its rate limit and log lines use. No address is ever treated as staff.
"""

from __future__ import annotations

import ipaddress
import threading
import time


def parse_networks(text: str) -> list:
    """'127.0.0.1, 10.0.0.0/8' -> networks; a bad entry raises ValueError naming it."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"trusted_proxies: {item!r} is not an IP address or network") from None
    return networks


def _trusted(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_of(peer: str, scheme: str, headers, networks: list) -> tuple[str, str]:
    """(client address, scheme) for a request from `peer` with these headers."""
    if not _trusted(peer, networks):
        return peer, scheme
    chain = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
    client = peer
    for address in reversed(chain):            # the nearest untrusted hop is the client
        client = address
        if not _trusted(address, networks):
            break
    proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return client, proto if proto in ("http", "https") else scheme


class RateLimiter:
    """A token bucket per key: `per_minute` requests a minute, bursts up to the same."""

    def __init__(self, per_minute: float, burst: float | None = None):
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        # A bucket idle this long is full again, so forgetting it changes nothing.
        self._refill_seconds = max(300.0, self.capacity / self.rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def per_hour(cls, per_hour: int) -> "RateLimiter":
        """`per_hour` requests an hour, bursts up to the same."""
        return cls(per_hour / 60.0, burst=per_hour)

    def allow(self, key: str) -> bool:
        """Take one token for `key`; False when its bucket is empty."""
        moment = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, moment))
            tokens = min(self.capacity, tokens + (moment - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, moment)
            if len(self._buckets) > 10_000:       # forget idle clients
                self._buckets = {k: v for k, v in self._buckets.items() if moment - v[1] < self._refill_seconds}
            return allowed
