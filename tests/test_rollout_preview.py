"""`invoke fleet.rollout` shows what a module version replaces before it applies anything.

On the session's local project: a tenant is onboarded, the module's user-pool schema is changed
(the kind of change module release 1.1.0 makes: Cognito replaces a pool whose schema changes),
and the rollout must list the replacement and stop; the next `invoke fleet.rollout` applies it.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

TENANT = "roll-preview"


def pool_ids(project: Any) -> list[str]:
    idp = project.target.client("cognito-idp")
    return [p["Id"] for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"tenantform-{TENANT}"]


def test_rollout_lists_a_user_pool_replacement_and_applies_only_when_run_again(local_project: Any) -> None:
    cli = local_project
    source = cli.project_dir / "modules" / "tenant_infra.py"
    original = source.read_text(encoding="utf-8")
    cli.run("onboard", f"tenant={TENANT}", "tier=basic", f"email=owner@{TENANT}.example.com", "name=Roll Corp")
    try:
        project = cli.project()
        (before,) = pool_ids(project)
        # a schema release, done as the module says: the change plus a new pool generation
        changed = original.replace('attribute_data_type="String", mutable=False,',
                                   'attribute_data_type="String", mutable=True,')
        changed = changed.replace("USER_POOL_GENERATION = 2\n", "USER_POOL_GENERATION = 3\n")
        assert changed.count("mutable=True,") == 1 and "USER_POOL_GENERATION = 3\n" in changed
        source.write_text(changed, encoding="utf-8")

        shown = cli.run("fleet.rollout", f"tenants={TENANT}", "canary=1")
        flat = " ".join(shown.stdout.split())
        for line in (f"tenant-{TENANT}-infra: delete module.tenant.aws_cognito_user_pool.user_pool_g2",
                     f"tenant-{TENANT}-infra: replace module.tenant.aws_cognito_user.admin_user",
                     f"tenant-{TENANT}-infra: replace module.tenant.aws_cognito_user_pool_client.app_client"):
            assert line in flat, shown.stdout[-3000:]
        assert "Nothing applied" in shown.stdout
        assert "invoke fleet.rollout --allow-replace=aws_cognito_user_pool`" in flat, shown.stdout[-3000:]
        assert pool_ids(project) == [before]  # nothing applied yet

        refused = cli.run("fleet.rollout", check=False)  # unattended, the pool's deletion not allowed
        assert refused.returncode == 1, refused.stdout[-3000:]
        assert "refused" in refused.stdout and "complete" not in refused.stdout, refused.stdout[-3000:]
        assert pool_ids(project) == [before]  # still nothing applied

        applied = cli.run("fleet.rollout", "--allow-replace=aws_cognito_user_pool")
        assert "complete" in applied.stdout, applied.stdout[-3000:]
        (after,) = pool_ids(project)
        assert after != before  # the pool was replaced, as the preview said
    finally:
        source.write_text(original, encoding="utf-8")
        cli.run("fleet.rollout", "--abort", check=False)
        cli.run("offboard", f"tenant={TENANT}", "--yes", check=False)
