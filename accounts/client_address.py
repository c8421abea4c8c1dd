"""The address of the client a request came from: what the failed-login limit counts and what the
audit trail records, so both always name the same client.

Behind reverse proxies REMOTE_ADDR is the nearest proxy. Each proxy appends the address it received
the request from to X-Forwarded-For, so with TRUSTED_PROXY_COUNT proxies of our own the entry that
many places from the right is the client's; entries further left were written by the client and may
be forged. With 0 (the default, no proxy) the header is not read at all.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    peer = request.META.get("REMOTE_ADDR") or None
    hops: int = settings.TRUSTED_PROXY_COUNT
    if hops == 0:
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")
    if len(forwarded) < hops:
        # The request did not pass through every proxy of ours: nothing in the header is vouched for.
        return peer
    try:
        return str(ipaddress.ip_address(forwarded[-hops].strip()))
    except ValueError:
        # Not what a proxy of ours writes; the peer is the only address known to be true.
        return peer
