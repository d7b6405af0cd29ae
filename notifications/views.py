"""Blueprint of the notifications package (its email layouts live in its templates)."""

from flask import Blueprint

bp = Blueprint("notifications", __name__, template_folder="templates")
