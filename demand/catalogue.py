"""The catalogue mirror: fetch an institution's open-data catalogue (CKAN or DCAT `data.json`)
and import its datasets, recording how the refresh went on the institution's catalogue status.

Fetching is guarded against server-side request forgery: the host is resolved, every address it
resolves to must be public, and the connection goes to the address that was checked (so a DNS
answer that changes between the check and the connection cannot point it elsewhere). Redirects
are followed a few times, each one checked the same way. `CATALOGUE_ALLOW_PRIVATE` lifts the
address check for development and tests.

Importing is idempotent, keyed by (institution, the catalogue's own dataset id): titles and
descriptions follow the catalogue, datasets that vanish are marked withdrawn (never deleted:
demand points at them) and come back if they reappear.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import logging
import math
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from core import audit
from core.celery_app import publish
from core.choices import InstitutionRole
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution, User
from core.permissions import has_role, rule
from core.timeutil import utcnow
from demand.catalogue_models import CatalogueKind, CatalogueState, CatalogueStatus
from demand.models import Dataset

log = logging.getLogger(__name__)

REFRESH_TASK = "demand.refresh_catalogue"
USER_AGENT = "Promueve-catalogue-mirror/1.0 (+https://promueve.example)"
CKAN_ORGANIZATION_RE = re.compile(r"^[a-z0-9_-]{1,100}$")
ACTIVE_STATES = (CatalogueState.queued, CatalogueState.running)
MAX_DESCRIPTION = 20000


@rule("institution.catalogue.refresh")
def _refresh_catalogue(user: User, institution: Institution) -> bool:
    return has_role(user, institution, InstitutionRole.liaison, InstitutionRole.staff)


class CatalogueError(Exception):
    """A refresh that could not read the catalogue: `code` says why, `detail` says where."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# The person-facing explanation of each error code (the detail adds the technical part).
ERROR_LABELS = {
    "bad_url": _l("La dirección del catálogo no es válida."),
    "refused_address": _l("La dirección del catálogo apunta a una red privada o local; no se consulta."),
    "dns_error": _l("No se encontró el servidor del catálogo."),
    "connection_error": _l("No se pudo conectar con el catálogo."),
    "tls_error": _l("La conexión segura (HTTPS) con el catálogo falló."),
    "timeout": _l("El catálogo tardó demasiado en responder."),
    "http_error": _l("El catálogo respondió con un error."),
    "too_many_redirects": _l("El catálogo redirige demasiadas veces."),
    "too_large": _l("La respuesta del catálogo es demasiado grande."),
    "bad_json": _l("El catálogo no respondió con JSON válido."),
    "malformed": _l("La respuesta del catálogo no tiene la forma esperada."),
    "ckan_error": _l("La API de CKAN informó un error."),
    "not_configured": _l("Falta configurar el tipo de catálogo o su organización."),
    "queue_unavailable": _l("No se pudo encolar la actualización; inténtalo más tarde."),
    "internal": _l("Error interno al actualizar el catálogo."),
}


# --- fetching -------------------------------------------------------------------


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
    )


def _resolve(host: str, port: int) -> str:
    """The address to connect to, after checking every address the host resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CatalogueError("dns_error", f"{host}: {exc}") from exc
    addresses = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise CatalogueError("dns_error", f"{host}: no address")
    if not current_app.config["CATALOGUE_ALLOW_PRIVATE"]:
        refused = [a for a in addresses if not _address_allowed(a)]
        if refused:
            raise CatalogueError("refused_address", f"{host} resolves to {', '.join(refused)}")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever DNS says later."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is checked for the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise CatalogueError("bad_url", url) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise CatalogueError("bad_url", url)
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise CatalogueError("bad_url", url) from exc
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def _read_limited(response: http.client.HTTPResponse, limit: int, deadline: float, url: str) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise CatalogueError("too_large", f"{url}: {length} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise CatalogueError("timeout", url)
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise CatalogueError("too_large", f"{url}: more than {limit} bytes")
        chunks.append(chunk)


def fetch_json(url: str, *, deadline: float | None = None) -> Any:
    """GET `url` and parse its JSON body, within the configured time, size and redirect limits."""
    config = current_app.config
    timeout = float(config["CATALOGUE_TIMEOUT"])
    for _hop in range(int(config["CATALOGUE_MAX_REDIRECTS"]) + 1):
        scheme, host, port, path = _split(url)
        request_deadline = time.monotonic() + timeout
        if deadline is not None:
            request_deadline = min(request_deadline, deadline)
        remaining = request_deadline - time.monotonic()
        if remaining <= 0:
            raise CatalogueError("timeout", url)
        address = _resolve(host, port)
        kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        connection = kind(host, port, address, remaining)
        try:
            connection.request(
                "GET",
                path,
                headers={
                    "Accept": "application/json",
                    "Accept-Encoding": "identity",
                    "User-Agent": USER_AGENT,
                },
            )
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise CatalogueError("http_error", f"HTTP {response.status} without Location from {url}")
                url = urljoin(url, location.strip())
                continue
            if not 200 <= response.status < 300:
                raise CatalogueError("http_error", f"HTTP {response.status} from {url}")
            body = _read_limited(response, int(config["CATALOGUE_MAX_BYTES"]), request_deadline, url)
        except TimeoutError as exc:
            raise CatalogueError("timeout", url) from exc
        except ssl.SSLError as exc:
            raise CatalogueError("tls_error", f"{url}: {exc}") from exc
        except (http.client.HTTPException, ValueError) as exc:
            raise CatalogueError("http_error", f"{url}: {exc.__class__.__name__}") from exc
        except OSError as exc:
            raise CatalogueError("connection_error", f"{url}: {exc}") from exc
        finally:
            connection.close()
        try:
            return json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CatalogueError("bad_json", f"{url}: {exc.__class__.__name__}") from exc
    raise CatalogueError("too_many_redirects", url)


# --- the two catalogue shapes -----------------------------------------------------


@dataclass(frozen=True)
class CatalogueRecord:
    """One dataset as the catalogue describes it, already cleaned."""

    source_id: str
    title: str
    description: str | None
    url: str | None
    formats: str | None
    modified_at: datetime | None


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    # PostgreSQL text cannot hold NUL; control characters are noise in a title.
    value = "".join(ch for ch in value if ch in "\n\t" or ord(ch) >= 32).strip()
    return value[:limit] or None


def _web_url(value: Any) -> str | None:
    """Only http(s) links are kept: they are shown on pages as links."""
    text = _text(value, 1000)
    if text is None or len(text) >= 1000 or not re.match(r"^https?://[^\s/]", text, re.IGNORECASE):
        return None
    return text


def _source_id(value: Any) -> str | None:
    text = _text(value, 10000)
    if text is None:
        return None
    if len(text) > 200:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text


def _moment(value: Any) -> datetime | None:
    text = _text(value, 64)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1900 <= moment.year <= 2200:
        return None
    return moment.astimezone(UTC)


def _formats(values: Iterable[Any]) -> str | None:
    seen: list[str] = []
    for value in values:
        text = _text(value, 40)
        if text is None:
            continue
        if "/" in text:  # a media type such as text/csv
            text = text.rsplit("/", 1)[1]
        text = text.upper().lstrip(".")
        if text and text not in seen:
            seen.append(text)
    joined = ", ".join(seen)
    return joined[:300].rsplit(",", 1)[0] if len(joined) > 300 else (joined or None)


def ckan_base(catalogue_url: str) -> str:
    """The CKAN site root of a catalogue address (a site, or one of its organisation pages)."""
    url = catalogue_url.strip().rstrip("/")
    for marker in ("/organization/", "/dataset/", "/api/3/", "/dataset", "/organization"):
        position = url.find(marker, url.find("://") + 3)
        if position != -1:
            return url[:position]
    return url


def dcat_url(catalogue_url: str) -> str:
    """The `data.json` of a catalogue address (itself when it names a .json file)."""
    url = catalogue_url.strip()
    if urlsplit(url).path.lower().endswith(".json"):
        return url
    return url.rstrip("/") + "/data.json"


def parse_ckan_page(document: Any, base: str) -> tuple[int, int, list[CatalogueRecord]]:
    """(count announced, packages on this page, valid records) of a `package_search` answer."""
    if not isinstance(document, dict):
        raise CatalogueError("malformed", "the answer is not a JSON object")
    if document.get("success") is not True:
        error = document.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        raise CatalogueError("ckan_error", _text(message, 500) or "success is not true")
    result = document.get("result")
    if not isinstance(result, dict):
        raise CatalogueError("malformed", "no result object")
    count, results = result.get("count"), result.get("results")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(results, list):
        raise CatalogueError("malformed", "result has no count or no results list")
    records = []
    for package in results:
        if not isinstance(package, dict):
            continue
        source_id = _source_id(package.get("id"))
        name = _text(package.get("name"), 200)
        title = _text(package.get("title"), 500) or name
        if source_id is None or title is None:
            continue
        resources = package.get("resources") if isinstance(package.get("resources"), list) else []
        records.append(
            CatalogueRecord(
                source_id=source_id,
                title=title,
                description=_text(package.get("notes"), MAX_DESCRIPTION),
                url=_web_url(f"{base}/dataset/{quote(name or source_id, safe='')}"),
                formats=_formats(r.get("format") for r in resources if isinstance(r, dict)),
                modified_at=_moment(package.get("metadata_modified")),
            )
        )
    return count, len(results), records


def parse_dcat(document: Any) -> list[CatalogueRecord]:
    """The records of a DCAT-US (Project Open Data) `data.json` catalogue."""
    if not isinstance(document, dict) or not isinstance(document.get("dataset"), list):
        raise CatalogueError("malformed", "no dataset list")
    records = []
    for entry in document["dataset"]:
        if not isinstance(entry, dict):
            continue
        source_id = _source_id(entry.get("identifier"))
        title = _text(entry.get("title"), 500)
        if source_id is None or title is None:
            continue
        raw = entry.get("distribution")
        distributions = [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []
        url = _web_url(entry.get("landingPage"))
        for distribution in distributions:
            if url:
                break
            url = _web_url(distribution.get("downloadURL")) or _web_url(distribution.get("accessURL"))
        records.append(
            CatalogueRecord(
                source_id=source_id,
                title=title,
                description=_text(entry.get("description"), MAX_DESCRIPTION),
                url=url,
                formats=_formats(d.get("format") or d.get("mediaType") for d in distributions),
                modified_at=_moment(entry.get("modified")),
            )
        )
    return records


Progress = Callable[[int, int | None], None]


def _too_many(records: dict) -> None:
    limit = current_app.config["CATALOGUE_MAX_DATASETS"]
    if len(records) > limit:
        raise CatalogueError("too_large", f"more than {limit} datasets")


def fetch_ckan(
    catalogue_url: str, organization: str, *, deadline: float, progress: Progress
) -> list[CatalogueRecord]:
    """Every dataset of a CKAN organisation, page by page until the announced count."""
    base = ckan_base(catalogue_url)
    rows = max(1, int(current_app.config["CATALOGUE_PAGE_SIZE"]))
    records: dict[str, CatalogueRecord] = {}
    start = 0
    while True:
        query = urlencode(
            {"fq": f"organization:{organization}", "rows": rows, "start": start, "sort": "name asc"}
        )
        document = fetch_json(f"{base}/api/3/action/package_search?{query}", deadline=deadline)
        count, on_page, page = parse_ckan_page(document, base)
        for record in page:
            records.setdefault(record.source_id, record)
        _too_many(records)
        start += on_page
        if start > current_app.config["CATALOGUE_MAX_DATASETS"]:
            raise CatalogueError("too_large", f"more than {start - on_page} datasets announced")
        progress(min(start, count), count)
        if on_page == 0 or start >= count:
            return list(records.values())


def fetch_dcat(catalogue_url: str, *, deadline: float, progress: Progress) -> list[CatalogueRecord]:
    """Every dataset of a DCAT `data.json` (one document)."""
    records = {}
    for record in parse_dcat(fetch_json(dcat_url(catalogue_url), deadline=deadline)):
        records.setdefault(record.source_id, record)
    _too_many(records)
    progress(len(records), len(records))
    return list(records.values())


def catalogue_configured(institution: Institution) -> bool:
    """Whether the institution says enough about its catalogue to mirror it."""
    if not institution.catalogue_url or institution.catalogue_kind not in CatalogueKind.__members__:
        return False
    return institution.catalogue_kind != CatalogueKind.ckan or bool(institution.catalogue_organization)


# --- importing ----------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What one import changed."""

    added: int = 0
    updated: int = 0
    withdrawn: int = 0
    restored: int = 0
    unchanged: int = 0


def import_datasets(institution_id: int, records: Iterable[CatalogueRecord]) -> ImportSummary:
    """Make the institution's datasets match the catalogue (never deletes); does not commit."""
    now = utcnow()
    summary = ImportSummary()
    existing = {
        dataset.source_id: dataset
        for dataset in db.session.execute(
            select(Dataset).where(Dataset.institution_id == institution_id)
        ).scalars()
    }
    seen: set[str] = set()
    for record in records:
        if record.source_id in seen:
            continue
        seen.add(record.source_id)
        values = {
            "title": record.title,
            "description": record.description,
            "url": record.url,
            "formats": record.formats,
            "modified_at": record.modified_at,
        }
        dataset = existing.get(record.source_id)
        if dataset is None:
            db.session.add(Dataset(institution_id=institution_id, source_id=record.source_id, **values))
            summary.added += 1
            continue
        changed = False
        for key, value in values.items():
            if getattr(dataset, key) != value:
                setattr(dataset, key, value)
                changed = True
        if dataset.withdrawn_at is not None:
            dataset.withdrawn_at = None
            summary.restored += 1
        elif changed:
            summary.updated += 1
        else:
            summary.unchanged += 1
    for source_id, dataset in existing.items():
        if source_id not in seen and dataset.withdrawn_at is None:
            dataset.withdrawn_at = now
            summary.withdrawn += 1
    db.session.flush()
    return summary


# --- refreshing -----------------------------------------------------------------------


def _locked_status(institution_id: int) -> CatalogueStatus:
    """The institution's status row, locked (created under the institution's lock if missing)."""
    query = select(CatalogueStatus).where(CatalogueStatus.institution_id == institution_id).with_for_update()
    status = db.session.execute(query).scalar_one_or_none()
    if status is None:
        db.session.execute(select(Institution.id).where(Institution.id == institution_id).with_for_update())
        status = db.session.execute(query).scalar_one_or_none()
        if status is None:
            status = CatalogueStatus(institution_id=institution_id, state=CatalogueState.idle)
            db.session.add(status)
            db.session.flush()
    return status


def _stale(status: CatalogueStatus, now: datetime) -> bool:
    """A queued or running refresh that has taken so long its worker must have been lost."""
    since = status.started_at if status.state == CatalogueState.running else status.requested_at
    limit = timedelta(seconds=current_app.config["CATALOGUE_STALE_AFTER_SECONDS"])
    return since is None or now - since > limit


def _enqueue(institution_id: int) -> bool:
    try:
        publish(REFRESH_TASK, [institution_id])
    except Exception:  # noqa: BLE001 - broker down: said on the status instead
        log.warning("could not enqueue the catalogue refresh of institution %s", institution_id)
        return False
    return True


def request_refresh(institution: Institution, actor: User | None) -> tuple[CatalogueStatus, bool]:
    """Queue a refresh of the institution's catalogue; (status, queued now?).

    A refresh already queued or running is not queued again. Audited when a person asks.
    The task is published after the commit, so the worker finds the queued state.
    """
    if not catalogue_configured(institution):
        raise DomainError(
            _l("Configura primero la dirección, el tipo y (en CKAN) la organización del catálogo."),
            field="catalogue_kind",
            status=409,
            code="catalogue_not_configured",
        )
    institution_id = institution.id
    now = utcnow()
    status = _locked_status(institution_id)
    if status.state in ACTIVE_STATES and not _stale(status, now):
        db.session.commit()
        return status, False
    status.state = CatalogueState.queued
    status.requested_at = now
    status.requested_by_id = actor.id if actor is not None else None
    if actor is not None:
        audit.record(
            "catalogue.refresh",
            institution,
            actor=actor,
            details={"kind": institution.catalogue_kind, "url": institution.catalogue_url},
        )
    db.session.commit()
    if not _enqueue(institution_id):
        status = _locked_status(institution_id)
        if status.state == CatalogueState.queued:
            _record_failure(status, CatalogueError("queue_unavailable", "the task broker did not answer"))
        db.session.commit()
    return status, True


def _record_failure(status: CatalogueStatus, exc: CatalogueError) -> None:
    status.state = CatalogueState.error
    status.error_code = exc.code
    status.error = exc.detail[:2000]
    status.finished_at = utcnow()


def _save_progress(institution_id: int, fetched: int, total: int | None) -> None:
    status = db.session.get(CatalogueStatus, institution_id)
    if status is not None and status.state == CatalogueState.running:
        status.fetched = fetched
        status.total = total
    db.session.commit()


def run_refresh(institution_id: int) -> str:
    """Refresh one catalogue (the worker's job): 'ok', 'error' or 'skipped'. Never raises for
    what a catalogue can do wrong (timeouts, HTTP errors, bad JSON): it records them."""
    status = _locked_status(institution_id)
    institution = db.session.get(Institution, institution_id)
    now = utcnow()
    runnable = status.state == CatalogueState.queued or (
        status.state == CatalogueState.running and _stale(status, now)
    )
    if institution is None or not runnable:
        db.session.commit()
        return "skipped"
    if not catalogue_configured(institution):
        _record_failure(status, CatalogueError("not_configured", institution.slug))
        db.session.commit()
        return "error"
    status.state = CatalogueState.running
    status.started_at = now
    status.finished_at = None
    status.error_code = status.error = None
    status.fetched, status.total = 0, None
    kind, url, organization = (
        institution.catalogue_kind,
        institution.catalogue_url,
        institution.catalogue_organization,
    )
    db.session.commit()  # no lock is held while the catalogue answers

    deadline = time.monotonic() + current_app.config["CATALOGUE_RUN_SECONDS"]

    def progress(fetched: int, total: int | None) -> None:
        _save_progress(institution_id, fetched, total)

    try:
        if kind == CatalogueKind.ckan:
            records = fetch_ckan(url, organization, deadline=deadline, progress=progress)
        else:
            records = fetch_dcat(url, deadline=deadline, progress=progress)
    except CatalogueError as exc:
        db.session.rollback()
        _record_failure(_locked_status(institution_id), exc)
        db.session.commit()
        log.info("catalogue of institution %s: %s", institution_id, exc)
        return "error"
    status = _locked_status(institution_id)
    if status.state != CatalogueState.running or status.started_at != now:
        db.session.commit()  # a newer run took over after this one was presumed lost
        return "skipped"
    summary = import_datasets(institution_id, records)
    finished = utcnow()
    status.state = CatalogueState.ok
    status.finished_at = status.refreshed_at = finished
    status.fetched = len(records)
    status.total = len(records)
    status.added, status.updated = summary.added, summary.updated
    status.withdrawn, status.restored = summary.withdrawn, summary.restored
    db.session.commit()
    return "ok"


def record_internal_failure(institution_id: int) -> None:
    """Mark a refresh that crashed unexpectedly as failed, so it is not left 'running'."""
    db.session.rollback()
    status = db.session.get(CatalogueStatus, institution_id)
    if status is not None and status.state in ACTIVE_STATES:
        _record_failure(status, CatalogueError("internal", "unexpected error; see the worker log"))
    db.session.commit()


def refresh_all() -> int:
    """Queue a refresh of every configured catalogue (the daily beat); how many were queued."""
    institutions = db.session.execute(
        select(Institution).where(
            Institution.catalogue_url.is_not(None), Institution.catalogue_kind.is_not(None)
        )
    ).scalars()
    queued = 0
    for institution in list(institutions):
        if not catalogue_configured(institution):
            continue
        _status, created = request_refresh(institution, None)
        queued += created
    return queued


def import_document(institution: Institution, document: Any, *, kind: str | None = None) -> ImportSummary:
    """Import an already parsed catalogue answer (a CKAN `package_search` answer holding every
    dataset, or a DCAT `data.json`), as a refresh would; records success on the status. Commits."""
    kind = kind or institution.catalogue_kind
    if kind == CatalogueKind.ckan:
        _count, _on_page, records = parse_ckan_page(document, ckan_base(institution.catalogue_url or ""))
    else:
        records = parse_dcat(document)
    status = _locked_status(institution.id)
    summary = import_datasets(institution.id, records)
    now = utcnow()
    status.state = CatalogueState.ok
    status.started_at = status.finished_at = status.refreshed_at = now
    status.error_code = status.error = None
    status.fetched = status.total = len(records)
    status.added, status.updated = summary.added, summary.updated
    status.withdrawn, status.restored = summary.withdrawn, summary.restored
    db.session.commit()
    return summary


# --- reading ---------------------------------------------------------------------------


def live_dataset_count(institution_id: int) -> int:
    """Datasets of the institution that are in its catalogue now."""
    return db.session.execute(
        select(func.count())
        .select_from(Dataset)
        .where(Dataset.institution_id == institution_id, Dataset.withdrawn_at.is_(None))
    ).scalar_one()


def status_of(institution: Institution) -> dict[str, Any]:
    """Everything known about the institution's catalogue mirror, for pages and the API."""
    status = db.session.get(CatalogueStatus, institution.id)
    state = status.state if status is not None else CatalogueState.idle
    fetched = status.fetched if status is not None else 0
    total = status.total if status is not None else None
    percent = None
    if state == CatalogueState.running and total:
        percent = min(100, math.floor(100 * fetched / total))
    return {
        "state": str(state),
        "refreshed_at": status.refreshed_at if status else None,
        "error": status.error if status else None,
        "error_code": status.error_code if status else None,
        "error_label": str(ERROR_LABELS.get(status.error_code, "")) if status and status.error_code else None,
        "datasets": live_dataset_count(institution.id),
        "requested_at": status.requested_at if status else None,
        "started_at": status.started_at if status else None,
        "finished_at": status.finished_at if status else None,
        "progress": {"fetched": fetched, "total": total, "percent": percent},
        "last_run": {
            "added": status.added if status else 0,
            "updated": status.updated if status else 0,
            "withdrawn": status.withdrawn if status else 0,
            "restored": status.restored if status else 0,
        },
        "configured": catalogue_configured(institution),
        "kind": institution.catalogue_kind,
        "url": institution.catalogue_url,
        "organization": institution.catalogue_organization,
        "active": state in ACTIVE_STATES,
    }


@dataclass
class DatasetPage:
    """One page of a dataset list."""

    items: list[Dataset]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_datasets(
    *,
    institution: str | None = None,
    q: str | None = None,
    withdrawn: bool = False,
    page: int = 1,
    per_page: int = 20,
) -> DatasetPage:
    """Catalogue datasets by title, optionally of one institution (by slug); withdrawn ones
    only when asked."""
    conditions = []
    if institution:
        conditions.append(
            Dataset.institution_id.in_(select(Institution.id).where(Institution.slug == institution))
        )
    if not withdrawn:
        conditions.append(Dataset.withdrawn_at.is_(None))
    words = (q or "").split()[:8]
    for word in words:
        pattern = _like(word[:100])
        conditions.append(
            or_(Dataset.title.ilike(pattern, escape="\\"), Dataset.source_id.ilike(pattern, escape="\\"))
        )
    per_page = min(max(1, per_page), 100)
    total = db.session.execute(select(func.count()).select_from(Dataset).where(*conditions)).scalar_one()
    page = max(1, page)
    items = (
        db.session.execute(
            select(Dataset)
            .options(joinedload(Dataset.institution))
            .where(*conditions)
            .order_by(Dataset.title, Dataset.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        .scalars()
        .all()
    )
    return DatasetPage(items=list(items), total=total, page=page, per_page=per_page)


def get_dataset(dataset_id: int) -> Dataset | None:
    """One dataset with its institution."""
    return db.session.execute(
        select(Dataset).options(joinedload(Dataset.institution)).where(Dataset.id == dataset_id)
    ).scalar_one_or_none()
