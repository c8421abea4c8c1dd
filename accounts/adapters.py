"""allauth adapters: accounts are created by supervisors, so self sign-up is closed."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.client_address import client_address


class ClinicalAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        # The rate limits count the address the audit trail records. allauth's own reading of
        # X-Forwarded-For (ALLAUTH_TRUSTED_PROXY_COUNT) raises ImproperlyConfigured, a server error,
        # on a header with fewer entries than trusted proxies; this one falls back to the peer.
        address = client_address(request)
        if address is None:
            raise PermissionDenied("Unable to determine the client's address.")
        return address
