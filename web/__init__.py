"""The customer app and the staff app (FastAPI, Jinja2, HTMX)."""
