"""Attendance certificates (constancias de asistencia): a PDF for each person checked in at
an event, issued once the event has started, verifiable by a random code on a public page.

The PDF embeds DejaVu Sans (vendored in `events/fonts` with its licence, as subsets: only
the glyphs used travel), so names print as written well beyond Spanish: Latin Extended
(Łukasz Żółć, Nguyễn, Ōtani, Dvořák), Greek and Cyrillic. A character the font has no glyph
for (Chinese, Japanese or Korean script, say) prints as its base letter when it has one,
else as "?"; the certificate record and its verification page keep the name exactly.
"""

from __future__ import annotations

import io
import secrets
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from accounts import services as accounts_services
from core import audit
from core.exceptions import DomainError
from core.extensions import db
from core.models import User
from core.timeutil import to_zone, utcnow
from core.urls import external_url
from events.dayof_models import AttendanceCertificate
from events.models import Event, EventStatus, Registration, RegistrationStatus
from events.services.common import CODE_ALPHABET, KIND_LABELS, normalise_code

# 16 characters of the registration codes' alphabet (no look-alikes): about 79 random bits.
CERTIFICATE_CODE_LENGTH = 16
# The faces the PDF embeds, from the repository (never a system font).
CERTIFICATE_FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
CERTIFICATE_FONT = "DejaVuSans"
CERTIFICATE_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


def new_certificate_code() -> str:
    """A fresh, unguessable verification code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CERTIFICATE_CODE_LENGTH))


def normalise_certificate_code(code: str) -> str:
    """What people type from paper, as stored: upper case, no spaces or dashes."""
    return normalise_code(code)[:64]


def display_certificate_code(code: str) -> str:
    """The code in groups of four, as printed ("ABCD-EFGH-…")."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def certificate_refusal(user: Any, registration: Registration, now=None) -> str | None:
    """Why `user` may not have a certificate for `registration` (None: they may)."""
    now = now or utcnow()
    event = registration.event
    if user is None or registration.user_id != getattr(user, "id", None):
        return str(_l("Esta constancia no es tuya."))
    if event.status not in (EventStatus.published, EventStatus.completed):
        return str(_l("Esta actividad no emite constancias."))
    if now < event.starts_at:
        return str(_l("La constancia está disponible cuando empieza la actividad."))
    if registration.status != RegistrationStatus.confirmed or registration.checked_in_at is None:
        return str(_l("La constancia es para quienes registraron su asistencia."))
    return None


def certificate_for(user: User, registration_id: Any) -> AttendanceCertificate:
    """The person's certificate for one registration, issued on first request.

    Two first requests at once both try to insert; the unique registration id keeps one
    and the other reads it."""
    registration = db.session.execute(
        select(Registration)
        .options(joinedload(Registration.event).joinedload(Event.institution), joinedload(Registration.user))
        .where(Registration.id == registration_id)
    ).scalar_one_or_none()
    if registration is None or registration.user_id != user.id:
        raise DomainError(_l("No encontramos ese registro."), status=404, code="not_found")
    reason = certificate_refusal(user, registration)
    if reason is not None:
        raise DomainError(reason, status=403, code="no_certificate")
    existing = _existing(registration.id)
    if existing is not None:
        return existing
    certificate = AttendanceCertificate(
        registration_id=registration.id,
        code=new_certificate_code(),
        holder_name=(user.name or user.email)[:200],
        issued_at=utcnow(),
    )
    db.session.add(certificate)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        existing = _existing(registration.id)
        if existing is None:
            raise
        return existing
    audit.record(
        "registration.certificate_issued",
        registration.event,
        actor=user,
        details={"registration_id": registration.id},
    )
    db.session.commit()
    return _existing(registration.id)


def _existing(registration_id: int) -> AttendanceCertificate | None:
    return db.session.execute(
        select(AttendanceCertificate)
        .options(
            joinedload(AttendanceCertificate.registration)
            .joinedload(Registration.event)
            .joinedload(Event.institution)
        )
        .where(AttendanceCertificate.registration_id == registration_id)
    ).scalar_one_or_none()


def verify_certificate(code: str) -> AttendanceCertificate | None:
    """The valid certificate with this code: its holder is still checked in, the event
    not cancelled."""
    normalised = normalise_certificate_code(code or "")
    if len(normalised) != CERTIFICATE_CODE_LENGTH:
        return None
    return db.session.execute(
        select(AttendanceCertificate)
        .join(AttendanceCertificate.registration)
        .join(Registration.event)
        .options(
            joinedload(AttendanceCertificate.registration)
            .joinedload(Registration.event)
            .joinedload(Event.institution)
        )
        .where(
            AttendanceCertificate.code == normalised,
            Registration.checked_in_at.is_not(None),
            Registration.status == RegistrationStatus.confirmed,
            Event.status.in_([EventStatus.published, EventStatus.completed]),
        )
    ).scalar_one_or_none()


def certificate_verification_url(certificate: AttendanceCertificate) -> str:
    return external_url("events.verify_certificate", code=certificate.code)


def certificate_file_name(certificate: AttendanceCertificate) -> str:
    """The download's name in the current language ("constancia-12.pdf")."""
    # Translators: a file name word, lowercase ASCII without spaces.
    word = str(_l("constancia"))
    return f"{word}-{certificate.registration.event_id}.pdf"


def _certificate_pdf():
    """A blank A4 landscape FPDF with the certificate's faces loaded."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    for style, file_name in CERTIFICATE_FONT_FILES.items():
        pdf.add_font(CERTIFICATE_FONT, style, CERTIFICATE_FONT_DIR / file_name)
    return pdf


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """The code points every face of the certificate has a glyph for."""
    pdf = _certificate_pdf()
    faces = [pdf.fonts[CERTIFICATE_FONT.lower() + style] for style in CERTIFICATE_FONT_FILES]
    return frozenset.intersection(*(frozenset(face.cmap) for face in faces))


def printable_on_certificate(text: Any) -> str:
    """The text as the certificate prints it: composed (NFC), every character the font
    draws as is; one it cannot draw as its base letter(s) when those can be drawn, else "?"
    (never dropped silently, never an empty box)."""
    drawable = _drawable()
    result = []
    for ch in unicodedata.normalize("NFC", str(text)):
        if ord(ch) in drawable:
            result.append(ch)
            continue
        base = "".join(
            part
            for part in unicodedata.normalize("NFKD", ch)
            if not unicodedata.combining(part) and ord(part) in drawable
        )
        result.append(base or "?")
    return "".join(result)


def certificate_event_dates(event: Event) -> str:
    """The event's date (or date range) in its zone, in the current language."""
    start = to_zone(event.starts_at, event.timezone)
    end = to_zone(event.ends_at, event.timezone)
    if start.date() == end.date():
        return format_date(start.date(), "long")
    return f"{format_date(start.date(), 'long')} – {format_date(end.date(), 'long')}"


def certificate_pdf(certificate: AttendanceCertificate) -> bytes:
    """The certificate as a one-page A4 landscape PDF, in the current language."""
    registration = certificate.registration
    event = registration.event
    institution = event.institution
    url = certificate_verification_url(certificate)
    pdf = _certificate_pdf()
    # Document properties are Unicode text (not drawn): as written.
    pdf.set_title(str(_l("Constancia de asistencia")))
    pdf.set_author(institution.name)
    pdf.set_creator("Promueve")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_draw_color(97, 18, 50)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    width = 237

    def line(text: Any, size: float, *, style: str = "", height: float = 9, gap: float = 0) -> None:
        pdf.set_x(30)
        pdf.set_font(CERTIFICATE_FONT, style, size)
        shown = printable_on_certificate(text)
        pdf.multi_cell(width, height, shown, align="C", new_x="LMARGIN", new_y="NEXT")
        if gap:
            pdf.ln(gap)

    pdf.set_y(24)
    pdf.set_text_color(97, 18, 50)
    line(institution.name, 14, style="B", gap=6)
    pdf.set_text_color(20, 20, 20)
    line(_l("Constancia de asistencia"), 26, style="B", height=12, gap=6)
    line(_l("Se hace constar que"), 13, gap=2)
    line(certificate.holder_name, 24, style="B", height=12, gap=4)
    line(_l("asistió a la actividad"), 13, gap=2)
    line(f"«{event.title}»", 17, style="B", height=9, gap=2)
    kind = KIND_LABELS.get(event.kind, event.kind)
    line(f"{kind} · {certificate_event_dates(event)}", 13, gap=2)
    if event.venue:
        line(event.venue, 11)
    qr = io.BytesIO()
    segno.make(url, error="m").save(qr, kind="png", scale=4, border=1)
    qr.seek(0)
    pdf.image(qr, x=30, y=150, w=38, h=38)
    pdf.set_xy(74, 160)
    pdf.set_font(CERTIFICATE_FONT, "", 10)
    pdf.set_text_color(60, 60, 60)
    pdf.multi_cell(
        190,
        6,
        printable_on_certificate(
            _l(
                "Verifica esta constancia en %(url)s con el código %(code)s. Emitida el %(date)s.",
                url=url,
                code=display_certificate_code(certificate.code),
                date=format_date(to_zone(certificate.issued_at, event.timezone).date(), "long"),
            )
        ),
        align="L",
    )
    return bytes(pdf.output())


def erase_certificates(user: User) -> None:
    """On account deletion: withdraw the person's certificates (they carry the name)."""
    registration_ids = select(Registration.id).where(Registration.user_id == user.id)
    db.session.execute(
        delete(AttendanceCertificate).where(AttendanceCertificate.registration_id.in_(registration_ids))
    )


def export_certificates(user: User) -> list[dict[str, Any]]:
    """A person's certificates, for their data export."""
    rows = db.session.execute(
        select(AttendanceCertificate)
        .join(AttendanceCertificate.registration)
        .options(joinedload(AttendanceCertificate.registration).joinedload(Registration.event))
        .where(Registration.user_id == user.id)
        .order_by(AttendanceCertificate.id)
    ).scalars()
    return [
        {
            "event_id": certificate.registration.event_id,
            "event": certificate.registration.event.title,
            "name": certificate.holder_name,
            "code": certificate.code,
            "issued_at": certificate.issued_at.isoformat(),
        }
        for certificate in rows
    ]


accounts_services.PERSONAL_DATA_SECTIONS["attendance_certificates"] = export_certificates
if erase_certificates not in accounts_services.ERASERS:
    accounts_services.ERASERS.append(erase_certificates)
