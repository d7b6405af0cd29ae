"""Pictures: the cover of an event and the images inside a success story.

The image itself (checked, re-encoded, stored, served) is `core.images`; this module says
where events use one, with its text alternative, and lets go of pictures nothing uses.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from markdown_it import MarkdownIt
from sqlalchemy import select

from accounts import services as accounts_services
from core import audit
from core.extensions import db
from core.images import (
    ALT_MAX_LENGTH,
    ProcessedImage,
    UploadedImage,
    erase_uploads_of,
    export_uploads_of,
    image_dict,
    image_for_path,
    process_image,
    prune_images,
    register_image_references,
    store_image,
)
from core.models import User
from core.timeutil import utcnow
from core.validation import has_control_characters
from core.validation import invalid as _invalid
from events.models import Event, StoryImage, SuccessStory


def clean_alt(value: Any, field_name: str) -> str:
    """A required one-line text alternative of at most 300 characters."""
    text_value = value.strip() if isinstance(value, str) else ""
    if not text_value:
        raise _invalid(_l("Describe la imagen para quien no puede verla (texto alternativo)."), field_name)
    if len(text_value) > ALT_MAX_LENGTH:
        raise _invalid(_l("Escribe hasta %(n)s caracteres.", n=ALT_MAX_LENGTH), field_name)
    if has_control_characters(text_value):
        raise _invalid(_l("Escríbelo en una sola línea, sin saltos de línea ni tabuladores."), field_name)
    return text_value


# --- the event's cover ---------------------------------------------------------------------------


def set_cover(actor: User, event: Event, upload: bytes | ProcessedImage, alt: Any) -> Event:
    """Give an event its cover picture with its text alternative (the old one, unused, goes)."""
    alt_text = clean_alt(alt, "alt")
    processed = upload if isinstance(upload, ProcessedImage) else process_image(upload, "image")
    replaced = event.cover_image_id
    image = store_image(processed, institution_id=event.institution_id, uploaded_by_id=actor.id)
    event.cover_image_id = image.id
    event.cover_alt = alt_text
    event.updated_at = utcnow()
    audit.record("event.cover.set", event, actor=actor, details={"image_id": image.id})
    prune_images([replaced])
    db.session.commit()
    return event


def describe_cover(actor: User, event: Event, alt: Any) -> Event:
    """Change only the text alternative of the event's cover."""
    if event.cover_image_id is None:
        return event
    alt_text = clean_alt(alt, "alt")
    if alt_text != event.cover_alt:
        event.cover_alt = alt_text
        event.updated_at = utcnow()
        audit.record("event.cover.describe", event, actor=actor)
    db.session.commit()
    return event


def remove_cover(actor: User, event: Event) -> Event:
    """Take the cover off an event; the picture is deleted when nothing else shows it."""
    replaced = event.cover_image_id
    if replaced is not None:
        event.cover_image_id = None
        event.cover_alt = None
        event.updated_at = utcnow()
        audit.record("event.cover.remove", event, actor=actor, details={"image_id": replaced})
        prune_images([replaced])
    db.session.commit()
    return event


def cover_dict(event: Event) -> dict[str, Any] | None:
    """The cover as the API shows it: path, alt, size, and the thumbnail's path."""
    shown = image_dict(event.cover)
    return None if shown is None else {**shown, "alt": event.cover_alt}


# --- pictures inside a success story -------------------------------------------------------------

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def _escape_alt(alt: str) -> str:
    return "".join("\\" + ch if ch in "\\[]*_`<>!" else ch for ch in alt)


def markdown_image(image: UploadedImage, alt: str) -> str:
    """The Markdown line that shows `image` with its text alternative."""
    return f"![{_escape_alt(alt)}]({image.path})"


def images_in(body: str, institution_id: int, field_name: str = "body") -> list[UploadedImage]:
    """The pictures a story's Markdown shows; only our own uploads of the institution, each
    with its text alternative (422 naming `field_name` otherwise)."""
    found: dict[int, UploadedImage] = {}
    for block in _markdown.parse(body or ""):
        for token in block.children or []:
            if token.type != "image":
                continue
            image = image_for_path(str(token.attrGet("src") or ""))
            if image is None or image.institution_id != institution_id:
                raise _invalid(
                    _l(
                        "Las imágenes de la historia se suben con el formulario; "
                        "no se pueden mostrar imágenes de otros sitios."
                    ),
                    field_name,
                )
            alt = "".join(child.content for child in token.children or []).strip()
            if not alt:
                raise _invalid(
                    _l(
                        "Cada imagen necesita su texto alternativo: escríbelo entre los corchetes de ![…](…)."
                    ),
                    field_name,
                )
            found[image.id] = image
    return list(found.values())


def attach_story_image(actor: User, event: Event, processed: ProcessedImage, alt: Any) -> str:
    """Store a picture for the event's story (in the caller's transaction) and return its
    Markdown line, to go into the story's text."""
    alt_text = clean_alt(alt, "image_alt")
    image = store_image(processed, institution_id=event.institution_id, uploaded_by_id=actor.id)
    return markdown_image(image, alt_text)


def sync_story_images(story: SuccessStory, images: list[UploadedImage]) -> None:
    """Record which pictures the story shows, and delete those it no longer shows that nothing
    else does (in the caller's transaction)."""
    wanted = {image.id for image in images}
    current = set(
        db.session.execute(select(StoryImage.image_id).where(StoryImage.story_id == story.id)).scalars()
    )
    for image_id in current - wanted:
        db.session.delete(db.session.get(StoryImage, (story.id, image_id)))
    for image_id in wanted - current:
        db.session.add(StoryImage(story_id=story.id, image_id=image_id))
    prune_images(current - wanted)


def event_image_ids(event: Event) -> list[int]:
    """The pictures an event and its story show (to let go of them with the event)."""
    ids = [event.cover_image_id] if event.cover_image_id else []
    ids.extend(
        db.session.execute(
            select(StoryImage.image_id)
            .join(SuccessStory, SuccessStory.id == StoryImage.story_id)
            .where(SuccessStory.event_id == event.id)
        ).scalars()
    )
    return ids


register_image_references(lambda: select(Event.cover_image_id).where(Event.cover_image_id.is_not(None)))
register_image_references(lambda: select(StoryImage.image_id))
accounts_services.PERSONAL_DATA_SECTIONS["uploaded_images"] = export_uploads_of
if erase_uploads_of not in accounts_services.ERASERS:
    accounts_services.ERASERS.append(erase_uploads_of)
