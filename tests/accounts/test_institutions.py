"""Institutions, invitations, memberships, the policy and the audit log."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select, text

from core.extensions import db
from core.models import AuditEntry, AuditLogIsAppendOnly, Membership
from tests.core.test_images import picture
from tests.factories import (
    deliver_outbox,
    first_link,
    login,
    make_institution,
    make_liaison,
    make_user,
    read_mails,
)


def test_admin_registers_an_institution_with_a_logo(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client, "admin@example.org")
    response = client.post(
        "/institutions/new",
        data={
            "name": "Comisión Nacional del Agua",
            "acronym": "CONAGUA",
            "slug": "conagua",
            "government_order": "federal",
            "timezone": "America/Mexico_City",
            "website": "https://www.gob.mx/conagua",
            "catalogue_url": "https://datos.gob.mx/busca/organization/conagua",
            "description": "Agua.",
            "logo": (io.BytesIO(picture(40, 20)), "logo.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = client.get("/institutions/conagua").get_data(as_text=True)
    assert "Comisión Nacional del Agua (CONAGUA)" in page
    logo = client.get(client.get("/institutions/conagua/logo").headers["Location"])
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert Image.open(io.BytesIO(logo.data)).size == (40, 20)  # re-encoded, same size
    with app.app_context():
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "institution.create")
        ).scalar_one()
        assert entry.actor.email == "admin@example.org" and entry.details == {"slug": "conagua"}


def test_institution_form_reports_bad_input(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        make_institution("inegi")
    login(client, "admin@example.org")
    response = client.post(
        "/institutions/new",
        data={
            "name": "",
            "slug": "INEGI!",
            "government_order": "federal",
            "timezone": "America/Mexico_City",
            "website": "no-es-url",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="name-error"' in html and 'id="slug-error"' in html and 'id="website-error"' in html
    duplicate = client.post(
        "/institutions/new",
        data={
            "name": "Otra",
            "slug": "inegi",
            "government_order": "federal",
            "timezone": "America/Mexico_City",
        },
    )
    assert "Ya existe una institución" in duplicate.get_data(as_text=True)


def test_only_admins_register_institutions(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
    login(client, "enlace@example.org")
    assert client.get("/institutions/new").status_code == 403
    assert client.post("/institutions/new", data={"name": "X", "slug": "x"}).status_code == 403


def test_liaison_invites_and_the_invitee_joins(app, client, mail_dir):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_user("nueva@example.org", name="Nueva")
    login(client, "enlace@example.org")
    response = client.post(
        "/institutions/inegi/members", data={"email": "Nueva@Example.org", "role": "staff"}
    )
    assert response.status_code == 302
    with app.app_context():
        deliver_outbox()
    [message] = read_mails(mail_dir)
    assert message["To"].addresses[0].addr_spec == "nueva@example.org"
    link = first_link(message, "/invitations/").replace("http://promueve.test", "")

    invitee = app.test_client()
    login(invitee, "nueva@example.org")
    assert "Aceptar invitación" in invitee.get(link).get_data(as_text=True)
    assert invitee.post(link).status_code == 302
    assert invitee.get("/institutions/inegi/members").status_code == 200
    # The link is single-use.
    assert invitee.get(link, follow_redirects=True).status_code == 200
    with app.app_context():
        roles = db.session.execute(select(Membership.role)).scalars().all()
        assert sorted(roles) == ["liaison", "staff"]
        actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
        assert actions[-2:] == ["member.invite", "member.join"]


def test_invitation_cannot_be_taken_by_another_account(app, client, mail_dir):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        make_user("intrusa@example.org")
    login(client, "enlace@example.org")
    client.post("/institutions/inegi/members", data={"email": "invitada@example.org", "role": "liaison"})
    with app.app_context():
        deliver_outbox()
    link = first_link(read_mails(mail_dir)[0], "/invitations/").replace("http://promueve.test", "")
    other = app.test_client()
    login(other, "intrusa@example.org")
    other.post(link)
    with app.app_context():
        assert len(db.session.execute(select(Membership)).scalars().all()) == 1


def test_liaison_of_one_institution_gets_403_on_another(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi"), "enlace@example.org")
        sep = make_institution("sep")
        other = make_liaison(sep, "enlace.sep@example.org")
        membership_id = db.session.execute(
            select(Membership.id).where(Membership.user_id == other.id)
        ).scalar_one()
    login(client, "enlace@example.org")
    assert client.get("/institutions/sep/members").status_code == 403
    assert client.get("/institutions/sep/edit").status_code == 403
    assert (
        client.post("/institutions/sep/members", data={"email": "x@example.org", "role": "staff"}).status_code
        == 403
    )
    assert client.post(f"/institutions/sep/members/{membership_id}/remove").status_code == 403
    assert (
        client.post(f"/institutions/sep/members/{membership_id}/role", data={"role": "staff"}).status_code
        == 403
    )
    assert client.get("/institutions/inegi/members").status_code == 200
    # A membership of SEP reached through INEGI's URL is not found, not changed.
    assert client.post(f"/institutions/inegi/members/{membership_id}/remove").status_code == 404


def test_staff_see_the_team_but_do_not_manage_it(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        make_liaison(inegi, "staff@example.org", role="staff")
    login(client, "staff@example.org")
    page = client.get("/institutions/inegi/members")
    assert page.status_code == 200 and "Invitar a alguien" not in page.get_data(as_text=True)
    assert (
        client.post(
            "/institutions/inegi/members", data={"email": "x@example.org", "role": "staff"}
        ).status_code
        == 403
    )
    assert client.get("/institutions/inegi/edit").status_code == 403


def test_the_last_liaison_cannot_be_removed_or_demoted(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        membership_id = db.session.execute(select(Membership.id)).scalar_one()
    login(client, "enlace@example.org")
    page = client.post(f"/institutions/inegi/members/{membership_id}/remove", follow_redirects=True)
    assert "al menos un Enlace" in page.get_data(as_text=True)
    client.post(f"/institutions/inegi/members/{membership_id}/role", data={"role": "staff"})
    with app.app_context():
        assert db.session.execute(select(Membership.role)).scalar_one() == "liaison"


def test_role_changes_and_removals_are_audited(app, client):
    with app.app_context():
        inegi = make_institution("inegi")
        make_liaison(inegi, "enlace@example.org")
        staff = make_liaison(inegi, "staff@example.org", role="staff")
        membership_id = db.session.execute(
            select(Membership.id).where(Membership.user_id == staff.id)
        ).scalar_one()
    login(client, "enlace@example.org")
    client.post(f"/institutions/inegi/members/{membership_id}/role", data={"role": "liaison"})
    client.post(f"/institutions/inegi/members/{membership_id}/remove")
    with app.app_context():
        entries = db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        role_change, removal = entries[-2:]
        assert role_change.action == "member.role_change"
        assert role_change.details == {"user_id": staff.id, "from": "staff", "to": "liaison"}
        assert removal.action == "member.remove" and removal.actor.email == "enlace@example.org"


def test_audit_log_page_is_for_admins(app, client):
    with app.app_context():
        make_user("admin@example.org", admin=True)
        make_liaison(make_institution("inegi"), "enlace@example.org")
    login(client, "enlace@example.org")
    assert client.get("/admin/audit").status_code == 403
    admin = app.test_client()
    login(admin, "admin@example.org")
    page = admin.get("/admin/audit?institution=inegi")
    assert page.status_code == 200 and "member.add" in page.get_data(as_text=True)


def test_audit_log_is_append_only(app, ctx):
    make_institution("inegi")
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    entry.action = "forged"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(text("UPDATE audit_log SET action = 'forged'"))
    db.session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(text("DELETE FROM audit_log"))
    db.session.rollback()
    assert db.session.execute(select(AuditEntry.action)).scalar_one() == "institution.create"


def test_public_institution_pages(app, client):
    with app.app_context():
        make_liaison(make_institution("inegi", name="Instituto Nacional"), "enlace@example.org")
    assert "Instituto Nacional" in client.get("/institutions").get_data(as_text=True)
    assert client.get("/institutions/inegi").status_code == 200
    assert client.get("/institutions/nope").status_code == 404


def test_audit_log_reads_in_words_links_objects_filters_and_pages(app, client):
    from datetime import timedelta

    from freezegun import freeze_time

    from core.timeutil import utcnow
    from tests.factories import make_event

    with app.app_context():
        make_user("admin@example.org", admin=True)
        inegi = make_institution("inegi")
        liaison = make_liaison(inegi, "enlace@example.org")
        liaison.name = "Ana Enlace"
        db.session.commit()
        with freeze_time(utcnow() - timedelta(days=40)):
            make_liaison(make_institution("conagua"), "viejo@example.org")
        for n in range(60):
            make_liaison(inegi, f"equipo{n}@example.org", role="staff")
        event = make_event(inegi, actor=liaison, title="Mesa")
        event_id = event.id
    login(client, "admin@example.org")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "publicó la actividad" in page and f'href="/events/{event_id}"' in page
    assert "<dt>Tipo</dt>" in page  # details as fields in words, not escaped JSON
    assert f'<a href="/events/{event_id}">actividad #{event_id}</a>' in page  # the object in words
    assert 'rel="next"' in page  # 60+ entries: more than one page
    older = client.get("/admin/audit?page=2").get_data(as_text=True)
    assert 'rel="prev"' in older
    by_action = client.get("/admin/audit?action=event.publish").get_data(as_text=True)
    assert by_action.count('class="card audit-entry"') == 1
    by_actor = client.get("/admin/audit?actor=ana+enlace").get_data(as_text=True)
    assert "publicó la actividad" in by_actor and "Ana Enlace" in by_actor
    recent = (utcnow() - timedelta(days=7)).date().isoformat()
    since = client.get(f"/admin/audit?since={recent}&institution=conagua").get_data(as_text=True)
    assert "No hay entradas con estos filtros." in since
    assert client.get("/admin/audit?since=nonsense&page=abc&until=2026-13-45").status_code == 200
    client.post("/language", data={"locale": "en"})
    english = client.get("/admin/audit?action=event.publish").get_data(as_text=True)
    assert "published the activity" in english
    assert f">activity #{event_id}</a>" in english


def test_every_audited_action_reads_in_words_in_both_languages(app):
    """Every action code written by `audit.record(...)` anywhere in the code (literals,
    either side of a conditional) has words in Spanish and English, so the log and its
    action filter never show a bare code."""
    import ast
    from pathlib import Path

    from flask_babel import force_locale

    from core import audit

    root = Path(__file__).resolve().parents[2]
    codes: dict[str, str] = {}
    for path in root.glob("*/**/*.py"):
        if path.parts[len(root.parts)] in {".venv", "tests", "migrations", "bench"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
                and node.args
            ):
                for literal in ast.walk(node.args[0]):
                    if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                        codes[literal.value] = f"{path.relative_to(root)}:{node.lineno}"
    assert len(codes) > 80  # the scan found the call sites
    with app.test_request_context():
        with force_locale("es_MX"):
            spanish = {code: audit.action_label(code) for code in codes}
        with force_locale("en"):
            english = {code: audit.action_label(code) for code in codes}
    undescribed = {code: where for code, where in codes.items() if spanish[code] == code}
    assert not undescribed, f"actions without words: {undescribed}"
    untranslated = sorted(code for code in codes if english[code] == spanish[code])
    assert not untranslated, f"actions without English words: {untranslated}"


def test_audit_log_shows_coded_detail_values_in_words_and_unknown_ones_as_they_are(app, client):
    from core import audit
    from demand import items

    with app.app_context():
        make_user("admin@example.org", admin=True)
        inegi = make_institution("inegi")
        make_liaison(inegi, "staff@example.org", role="staff")  # member.add, role staff
        items.file_request(
            make_user("ana@example.org"), inegi, kind="publish", title="Presas", intended_use="research"
        )
        audit.record("member.add", inegi, details={"role": "visitor"})  # a code without words
        db.session.commit()
    login(client, "admin@example.org")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "<dt>Tipo</dt><dd>Publicar datos</dd>" in page  # demand.request kind publish
    assert "<dt>Rol</dt><dd>Personal de la institución</dd>" in page
    assert "<dd>publish</dd>" not in page and "<dd>staff</dd>" not in page
    assert "<dt>Rol</dt><dd>visitor</dd>" in page
    client.post("/language", data={"locale": "en"})
    english = client.get("/admin/audit").get_data(as_text=True)
    assert "<dd>Publish data</dd>" in english and "<dd>Institution staff</dd>" in english
    assert "<dd>visitor</dd>" in english


def _coded_details() -> list[tuple[str, str, list[str]]]:
    """Every (action, detail key) whose value is a code, with every code it can take."""
    from accounts.credentials import EndReason
    from accounts.services import CATALOGUE_KINDS
    from challenges.models import ChallengeStatus
    from core.models import InstitutionRole
    from demand.models import DemandKind, DemandStatus, ReasonCode
    from events.dayof_models import MessageAudience
    from events.models import CommitmentStatus, EventKind, EventStatus
    from surveys.models import Privacy

    roles = list(InstitutionRole)
    members = ("member.add", "member.invite", "member.join", "member.remove")
    new_events = ("event.create", "event.duplicate", "event.delete")
    coded = [
        *((action, "role", roles) for action in members),
        ("member.role_change", "from", roles),
        ("member.role_change", "to", roles),
        ("member.remove", "reason", ["account deleted"]),
        ("credentials.revoke", "reason", [EndReason.password_changed, EndReason.password_reset]),
        ("catalogue.refresh", "kind", list(CATALOGUE_KINDS)),
        ("demand.request", "kind", list(DemandKind)),
        ("demand.answer", "from", list(DemandStatus)),
        ("demand.answer", "to", list(DemandStatus)),
        ("demand.answer", "reason_code", list(ReasonCode)),
        *((action, "kind", list(EventKind)) for action in new_events),
        ("event.delete", "status", list(EventStatus)),
        ("commitment.update", "from", list(CommitmentStatus)),
        ("commitment.update", "to", list(CommitmentStatus)),
        ("event.message_sent", "audience", list(MessageAudience.all)),
        ("calendar_feed.revoke", "reason", ["regenerated", "revoked"]),
        ("challenge.publish", "status", list(ChallengeStatus)),
        ("survey.created", "privacy", list(Privacy)),
    ]
    return [(action, key, [str(code) for code in codes]) for action, key, codes in coded]


def test_every_coded_detail_value_reads_in_words_in_both_languages(app):
    """Walks the enums behind coded details: a new value without words fails here."""
    from flask_babel import force_locale

    from core import audit

    missing = []
    with app.test_request_context():
        for action, key, codes in _coded_details():
            for code in codes:
                with force_locale("es_MX"):
                    spanish = audit.detail_value(action, key, code)
                with force_locale("en"):
                    english = audit.detail_value(action, key, code)
                if spanish == code or english == code:
                    missing.append((action, key, code, spanish, english))
        # A value stays as it is where the action gives that key no codes, or it is not one.
        assert audit.detail_value("outbox.retry", "kind", "publish") == "publish"
        assert audit.detail_value("demand.request", "kind", "telepathy") == "telepathy"
        assert audit.detail_value("demand.answer", "from", 3) == 3
    assert not missing, f"coded detail values without words: {missing}"
