"""The console's JSON API (`/api/…`): typed models, and the OpenAPI document made from them.

Authenticated by ``Authorization: Bearer`` with a token from `loa user token`, or by the
console's session cookie — then every unsafe method also needs the session's CSRF token in
``X-CSRF-Token``, so another site cannot make a logged-in browser call it. Roles are the
console's (``scheduler.auth.PERMISSIONS``); a refusal is a 403 with an audit entry. Bad input
is a 400 naming the field, with the CLI's message; nothing is stored.
"""

from scheduler.web.api.calls import MAX_BODY
from scheduler.web.api.routes import PREFIX, create_api

__all__ = ["MAX_BODY", "PREFIX", "create_api"]
