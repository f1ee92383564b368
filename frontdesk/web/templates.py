"""The Jinja2 environment for server-rendered pages (the staff console).

Autoescaping is on for every template: patient text is untrusted and must render inert.
Templates can call `csrf_field(request)`, `csrf_token(request)` and `signed_in(request)`.
"""

from __future__ import annotations

from importlib import resources

from fastapi.templating import Jinja2Templates

from frontdesk.auth.deps import csrf_field, csrf_token, signed_in_staff

TEMPLATES_DIR = resources.files("frontdesk") / "web" / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(
    csrf_field=csrf_field,
    csrf_token=csrf_token,
    signed_in=signed_in_staff,
)
