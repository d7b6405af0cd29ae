"""`flask users ...` and `flask institutions ...` commands of the public contract."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from accounts import services
from core.exceptions import DomainError
from core.extensions import db
from core.models import Institution
from core.validation import has_control_characters

users_cli = AppGroup("users", help="Manage accounts.")
institutions_cli = AppGroup("institutions", help="Manage institutions.")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", required=True, help="Password (10+ characters).")
@click.option("--name", default="", help="Display name.")
@click.option("--admin", is_flag=True, help="Platform administrator.")
@click.option("--verified", is_flag=True, help="Mark the email as verified.")
@click.option("--institution", "institution_slug", default=None, help="Institution slug.")
@click.option("--role", type=click.Choice(["liaison", "staff"]), default=None)
def create_user_command(email, password, name, admin, verified, institution_slug, role):
    """Create an account, optionally with a role in an institution."""
    if bool(institution_slug) != bool(role):
        raise click.UsageError("--institution and --role go together")
    institution = None
    if institution_slug:
        institution = db.session.execute(
            select(Institution).where(Institution.slug == institution_slug)
        ).scalar_one_or_none()
        if institution is None:
            raise click.ClickException(f"no institution with slug {institution_slug!r}")
    try:
        user = services.create_user(email, password, name=name, admin=admin, verified=verified)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from exc
    if institution is not None:
        services.add_member(None, institution, user, role)
    click.echo(f"created {user.email} (id {user.id})")


@users_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_users_command(path: Path):
    """Create verified accounts from a CSV file: email,name,password[,sector]."""
    created, errors = services.import_users(path.read_text(encoding="utf-8-sig"))
    if errors:
        for line, message in errors:
            click.echo(f"line {line}: {message}", err=True)
        raise click.ClickException(f"{len(errors)} bad row(s); nothing was imported")
    click.echo(f"imported {created} account(s)")


@institutions_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--acronym", default=None)
@click.option(
    "--order",
    "government_order",
    type=click.Choice(["federal", "state", "municipal", "autonomous"]),
    default="federal",
)
@click.option("--timezone", default=None)
@click.option("--website", default=None)
def create_institution_command(slug, name, acronym, government_order, timezone, website):
    """Register an institution."""
    from flask import current_app

    for option, value in (("--name", name), ("--acronym", acronym), ("--website", website)):
        if has_control_characters(value):
            raise click.BadParameter("must be one line, without line breaks or tabs", param_hint=option)
    try:
        institution = services.create_institution(
            None,
            slug=slug,
            name=name,
            acronym=acronym,
            government_order=government_order,
            timezone=timezone or current_app.config["DEFAULT_TIMEZONE"],
            website=website,
        )
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from exc
    click.echo(f"created institution {institution.slug} (id {institution.id})")
