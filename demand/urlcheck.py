"""Check that a published dataset's address answers 2xx, or matches a catalogue dataset.

Fetches refuse private, loopback and link-local addresses (no server-side request
forgery) unless CATALOGUE_ALLOW_PRIVATE=1 (development and tests).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.error
import urllib.request
from urllib.parse import urljoin, urlsplit

from flask import current_app
from sqlalchemy import or_, select

from core.extensions import db
from demand.models import Dataset, DemandItem, UrlCheck

TIMEOUT_SECONDS = 10


class RefusedAddress(Exception):
    """The address resolves to a private or local network."""


def _allow_private() -> bool:
    value = current_app.config.get("CATALOGUE_ALLOW_PRIVATE", os.environ.get("CATALOGUE_ALLOW_PRIVATE", ""))
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _check_host(host: str, port: int) -> None:
    if _allow_private():
        return
    for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise RefusedAddress(f"{host} resolves to a non-public address")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # each hop is checked by hand, so a redirect cannot reach a private address


def fetch_status(url: str, *, max_redirects: int = 5) -> int:
    """The HTTP status the address finally answers (HEAD, then GET when HEAD is refused)."""
    opener = urllib.request.build_opener(_NoRedirect)
    for _hop in range(max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RefusedAddress("only http and https addresses are checked")
        _check_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        status, location = None, None
        for method in ("HEAD", "GET"):
            # Only http(s) reach here: the scheme was checked above, on every hop.
            request = urllib.request.Request(  # noqa: S310
                url, method=method, headers={"User-Agent": "Promueve link check"}
            )
            try:
                with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status, location = exc.code, exc.headers.get("Location")
            if status not in (405, 501):
                break
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        return status
    return 310


def matching_dataset(item: DemandItem, url: str) -> Dataset | None:
    """A catalogue dataset of the item's institution with this address (or the item's own dataset)."""
    bare = url.rstrip("/")
    return db.session.execute(
        select(Dataset)
        .where(
            Dataset.institution_id == item.institution_id,
            Dataset.withdrawn_at.is_(None),
            or_(Dataset.url == url, Dataset.url == bare, Dataset.url == bare + "/"),
        )
        .limit(1)
    ).scalar_one_or_none()


def check(item: DemandItem) -> tuple[UrlCheck, str]:
    """What a published item's address is: in the catalogue, answering 2xx, or failing."""
    url = item.answer.dataset_url
    if matching_dataset(item, url) is not None:
        return UrlCheck.catalogue, "matches a catalogue dataset"
    try:
        status = fetch_status(url)
    except RefusedAddress as exc:
        return UrlCheck.failed, str(exc)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return UrlCheck.failed, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if 200 <= status < 300:
        return UrlCheck.ok, f"HTTP {status}"
    return UrlCheck.failed, f"HTTP {status}"
