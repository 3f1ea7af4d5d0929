"""Remote runs that never crash: statuses the SDK cannot parse, policies, 429/5xx, idempotent creates.

Against the HCP Terraform API stand-in (tests/tfc_standin/), through the real SDK and HTTP.
"""

from __future__ import annotations

import threading

import pydantic
import pytest
from pytfe import TFEClient, TFEConfig

from tenantform import tfc
from tenantform.tfc.http import SharedBackoff
from tests.tfc_standin import StandIn
from tests.test_tfc import ENV, ORG, TOKEN, WS, client, ensure, make_settings, settings, standin, tree  # noqa: F401


def _client(standin: StandIn, **overrides) -> tfc.TfcClient:
    return tfc.TfcClient(make_settings(standin, **overrides), environ=ENV)


def _run(client: tfc.TfcClient, tree, **kwargs) -> tfc.RunOutcome:  # noqa: ANN001
    return client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="tenantform: m",
                      **kwargs)


def test_the_standin_really_sends_statuses_pytfe_cannot_parse(tree):  # noqa: F811
    """The premise: pytfe's own run model rejects them (else the next tests prove nothing)."""
    with StandIn(organization=ORG, token=TOKEN, hcp_statuses=True) as s, _client(s) as c:
        ensure(c)
        _run(c, tree)
        run_id = next(iter(s.runs))
        s.runs[run_id]["status"] = "post_apply_running"
        sdk = TFEClient(TFEConfig(address=s.address, token=TOKEN))
        with pytest.raises(pydantic.ValidationError):
            sdk.runs.read(run_id)
        sdk.close()


@pytest.mark.parametrize("unknown", [None, "some_status_from_2027"])
def test_a_run_through_unparseable_statuses_ends_applied(tree, unknown):  # noqa: F811
    with StandIn(organization=ORG, token=TOKEN, hcp_statuses=True) as s, _client(s) as c:
        ensure(c)
        if unknown:
            s.script_next_run(WS, unknown_status=unknown)
        seen: list[str] = []
        out = _run(c, tree, on_progress=lambda e: seen.append(e.status))
        assert out.ok and out.applied and out.status == "applied", out
        assert {"plan_queueable", "post_apply_running", "post_apply_completed"} <= set(seen)
        if unknown:
            assert unknown in seen
        (run,) = s.runs.values()
        assert run["applied_comment"] == "tenantform: m"  # not "tenantform: tenantform: m"


def test_force_canceled_is_a_failed_outcome_with_its_reason(standin, client, tree):  # noqa: F811
    ensure(client)
    standin.script_next_run(WS, force_cancel=True)
    out = _run(client, tree)
    assert (out.status, out.ok) == ("force_canceled", False)
    assert out.error == "the run was force canceled (by a person or a policy)"


def test_soft_failed_policy_is_overridden_only_with_the_flag(standin, client, tree):  # noqa: F811
    ensure(client)
    standin.script_next_run(WS, policy="soft_failed")
    out = _run(client, tree, override_policy=True)
    assert out.ok and out.applied
    assert len(standin.requests_to("POST", r"^/api/v2/policy-checks/[^/]+/actions/override$")) == 1
    assert [c["status"] for c in standin.policy_checks.values()] == ["overridden"]


def test_hard_failed_policy_fails_the_run_with_the_policy_as_reason(standin, client, tree):  # noqa: F811
    ensure(client)
    standin.script_next_run(WS, policy="hard_failed")
    out = _run(client, tree, override_policy=True)
    assert (out.status, out.ok) == ("errored", False)
    assert out.error.startswith("policy check hard-failed")
    assert standin.requests_to("POST", r"/actions/(apply|override)$") == []


def test_soft_failed_speculative_plan_is_final_not_an_hour_long_wait(standin, client, tree):  # noqa: F811
    ensure(client)
    standin.script_next_run(WS, policy="soft_failed", changes=(1, 0, 0))
    out = _run(client, tree, plan_only=True)
    assert (out.status, out.ok, out.timed_out) == ("policy_soft_failed", False, False)


def test_a_502_after_the_run_was_created_leaves_one_run(standin, client, tree):  # noqa: F811
    ensure(client)
    standin.fail_next("POST", r"^/api/v2/runs$", 502, after_processing=True)
    out = _run(client, tree)
    assert out.ok and out.applied
    assert len(standin.runs) == 1
    assert len(standin.requests_to("POST", r"^/api/v2/runs$")) == 1  # found, not posted again


def test_a_503_before_the_run_was_created_is_retried_once(standin, client, tree):  # noqa: F811
    ensure(client)
    standin.fail_next("POST", r"^/api/v2/runs$", 503)
    out = _run(client, tree)
    assert out.ok and len(standin.runs) == 1
    assert len(standin.requests_to("POST", r"^/api/v2/runs$")) == 2


def test_5xx_on_reads_are_retried_and_a_lasting_outage_is_one_error_line(standin, tree):  # noqa: F811
    slept: list[float] = []
    with tfc.TfcClient(make_settings(standin), environ=ENV, sleep=slept.append) as c:
        c.backoff._sleep = slept.append
        ensure(c)
        standin.fail_next("GET", r"^/api/v2/runs/run-", 504, times=2)
        assert _run(c, tree).ok
        standin.fail_next("GET", r"^/api/v2/organizations/[^/]+/workspaces/", 500, times=50)
        with pytest.raises(tfc.TfcError) as err:
            _run(c, tree)
    assert str(err.value).startswith(f"{WS}: ServerError: ")
    assert "\n" not in str(err.value)


def test_429_backs_off_with_jitter_shared_by_every_thread(standin, tree):  # noqa: F811
    pauses: list[float] = []
    with tfc.TfcClient(make_settings(standin), environ=ENV) as c:
        c.backoff._sleep = pauses.append
        ensure(c)
        standin.fail_next("GET", r"^/api/v2/organizations/[^/]+/workspaces/", 429, times=1,
                          retry_after=0.2)
        results: list[object] = []
        threads = [threading.Thread(target=lambda: results.append(c.read_workspace(WS)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 4 and all(r is not None for r in results)
    assert pauses and all(0 < p <= 0.2 * 1.1 + 1e-6 for p in pauses)


def test_backoff_without_retry_after_is_full_jitter_capped():
    backoff = SharedBackoff(base=1.0, cap=4.0, rand=lambda: 0.5)
    assert [backoff.delay(n, None) for n in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert backoff.delay(0, 10.0) == 4.0  # Retry-After is capped too


def test_runs_advance_with_the_clock_not_per_read(tree):  # noqa: F811
    now = [0.0]
    with StandIn(organization=ORG, token=TOKEN, step_seconds=5.0, clock=lambda: now[0]) as s:
        def tick(seconds: float) -> None:
            now[0] += 1.0  # each poll is one second of the stand-in's clock
        with tfc.TfcClient(make_settings(s, poll_interval=1.0), environ=ENV, sleep=tick) as c:
            ensure(c)
            out = _run(c, tree)
    assert out.ok and out.applied
    assert now[0] >= 5.0 * 6  # six steps from pending to applied, five clock seconds each
    reads = s.requests_to("GET", r"^/api/v2/runs/run-[^/]+$")
    assert len(reads) >= 30


def test_refresh_only_run_reports_drift_and_never_applies(standin, client, tree):  # noqa: F811
    ensure(client)
    assert _run(client, tree).ok
    standin.script_next_run(WS, drift=("module.tenant.aws_dynamodb_table.orders",))
    out = _run(client, tree, refresh_only=True)
    assert out.ok and not out.applied and out.has_changes
    assert out.drifted == ("module.tenant.aws_dynamodb_table.orders",)
    body = standin.requests_to("POST", r"^/api/v2/runs$")[-1].body
    assert body["data"]["attributes"]["refresh-only"] is True
    assert len(standin.requests_to("POST", r"/actions/apply$")) == 1  # the first, normal run only
    assert list(standin.runs.values())[-1]["status"] == "discarded"


def test_plan_lists_replacements_from_its_json_output(standin, client, tree):  # noqa: F811
    ensure(client)
    address = "module.tenant.aws_cognito_user_pool.pool"
    standin.script_next_run(WS, changes=(1, 0, 1), replace=(address,))
    seen: list[tfc.PlanSummary] = []
    out = _run(client, tree, approve=lambda p: seen.append(p) or False)
    assert seen[0].replaced == (f"replace {address}",)
    assert out.replaced == (f"replace {address}",) and not out.ok


def test_tag_keys_and_count_follow_the_documented_limits(client):
    with pytest.raises(tfc.TfcError, match="keys are 1-128"):
        client.ensure_workspace(tfc.WorkspaceSpec(name=WS, tags={"k" * 129: "v"}))
    client.ensure_workspace(tfc.WorkspaceSpec(name=WS, tags={"k" * 128: "v" * 255}))
    many = {f"t{i}": "v" for i in range(11)}
    with pytest.raises(tfc.TfcError, match="allows 10"):
        client.ensure_workspace(tfc.WorkspaceSpec(name=WS, tags=many))


def test_destroy_uses_the_newest_applied_configuration_whatever_the_list_order(standin, client, tree):  # noqa: F811
    ensure(client)
    assert _run(client, tree).ok
    (tree / "workspaces" / WS / "extra.tf.json").write_text('{"locals": {"x": 1}}')
    assert _run(client, tree).ok
    newest_cv = list(standin.runs.values())[-1]["cv"]
    for r in standin.runs.values():  # same second: the order of the list decides nothing
        r["created-at"] = "2026-01-01T00:00:00+00:00"
    list(standin.runs.values())[-1]["created-at"] = "2026-01-01T00:00:01+00:00"
    out = client.destroy(WS, message="tenantform: offboard")
    assert out.ok and list(standin.runs.values())[-1]["cv"] == newest_cv
