"""The Bitrecs (SN122) surface: gated gist submissions, validators and screeners, scoring reads.

Served as Bitrecs serves them: `POST /check` and `POST /submit` at the root, `/validator/*`, and the
`X-API-Key` read routes under `/scoring` and `/agent` (keys from `proctor admin bitrecs-keys`). The
choices where Bitrecs' code, docs and needs differ (reference bitrecs-and-aitbc Part 1 and Part 3):

- **Gate order and messages are Bitrecs'** (§1.4 for /check, §1.5 for /submit), judged by the one gate
  pipeline (`proctor.core.submissions.bitrecs`), with Bitrecs' `detail` vs `error` body split.
- **Never a 500**: a non-hex signature, an address that is not SS58, GitHub refusing or timing out, YAML
  that does not parse, a YAML bomb: each is a 400 saying so (Bitrecs answers 500 for all of these).
- **sr25519** over the exact messages of §1.3 (the docs say Ed25519; real hotkeys are sr25519).
- **The transport version is a setting** (`PROCTOR_BITRECS_VERSION`, default 2.0.2, what today's CLI
  signs), so upgrading proctor does not break every miner's CLI.
- **Sessions live in the database**, not process memory: replicas agree and a restart drops nobody.
- `/health` stays proctor's (its liveness probe); Bitrecs' counters are at `/scoring/screener-info`.
"""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers
from proctor.http.surface import Responses, document_errors, mount_group
from proctor.surfaces.bitrecs import routes
from proctor.surfaces.bitrecs.errors import BitrecsError, BitrecsUnprocessable, render_bitrecs

# Beside each route's own, in Bitrecs' bodies.
SESSION: Responses = {
    400: {"description": "A request Bitrecs' rules refuse (a wrong run transition, say)"},
    401: {"description": "Missing or expired session token"},
    403: {"description": "Not a whitelisted validator, or a wrong screener password"},
    409: {"description": "The session's evaluation does not allow it"},
    422: {"description": "A body or session id that does not validate", "model": BitrecsUnprocessable},
}
API_KEY: Responses = {
    401: {"description": "Invalid or missing API Key"},
    404: {"description": "No such agent or gist"},
}


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach /check, /submit and the validator, scoring and agent groups, all in Bitrecs' bodies."""
    mount_group(app, renderers, "/validator", [routes.validator], render_bitrecs, responses=SESSION)
    mount_group(app, renderers, "/scoring", [routes.scoring], render_bitrecs, responses=API_KEY)
    mount_group(app, renderers, "/agent", [routes.agent], render_bitrecs, responses=API_KEY)
    document_errors(routes.root.routes, envelope=BitrecsError)
    app.include_router(routes.root)
    renderers.register("/check", render_bitrecs)
    renderers.register("/submit", render_bitrecs)
