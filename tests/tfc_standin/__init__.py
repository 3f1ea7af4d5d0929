"""A local stand-in for the subset of the HCP Terraform API v2 that tenantform's `tfc` target uses.

Built from the public API documentation (hashicorp/terraform-docs-common, cloud-docs/api-docs:
index, account, organizations, projects, workspaces, workspace-resources, variable-sets,
configuration-versions, run, plans, applies): JSON:API documents served as
`application/vnd.api+json`, `page[number]` / `page[size]` pagination with `meta.pagination`
and `links`, bearer-token auth (401 without, 404 for what the token may not see), JSON:API
error objects.

It is a test double, not an emulator: runs do not execute terraform. A run advances one state
each time it is read (pending -> plan_queued -> planning -> planned | planned_and_finished |
errored; after an apply action: apply_queued -> applying -> applied | errored), so tests are
deterministic without timers. What a run's plan contains is derived from the uploaded
configuration (resources counted in its *.tf.json files; unchanged configuration gives no
changes) or scripted per workspace with `script_next_run`.

Served on 127.0.0.1 on a free port, plain HTTP (pytfe accepts `http://` addresses) or HTTPS
with a self-signed certificate generated at start (`tls=True`; `ca_file` is its PEM).
"""

from tests.tfc_standin.base import ApiError, RecordedRequest, RunScript, TokenInfo
from tests.tfc_standin.core import StandIn
from tests.tfc_standin import routes, run_routes  # noqa: F401 - registers the routes

__all__ = ["ApiError", "RecordedRequest", "RunScript", "StandIn", "TokenInfo"]
