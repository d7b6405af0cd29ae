"""The Celery app bound to Promueve: `celery -A worker worker` / `celery -A worker beat`."""

from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
app = celery
