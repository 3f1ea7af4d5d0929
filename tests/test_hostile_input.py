"""Hostile and broken input: tenant files and command-line words.

Every example is either valid, and then every name derived from it passes its service's rules
and its data reaches Terraform as a literal, or it is refused with a message naming the field,
and nothing is written (no tenant file, no synthesised output, no emulator started).
The bulk runs through the library (hypothesis); a handful of real CLI runs check the wiring.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings, strategies as st
from invoke.exceptions import Exit

from tasks import ns
from tenantform.cli._program import keyword_argv
from tenantform import workflows
from tenantform.names import APPS, INFRA, tenant_names
from tenantform.platform_config import PlatformConfig
from tenantform.project import Project
from tenantform.roots import render_infra_root
from tenantform.targets import Settings
from tenantform.tenant import (
    FORBIDDEN_TENANT_WORDS,
    RESERVED_TENANT_IDS,
    RESERVED_TENANT_PREFIXES,
    TENANT_FIELDS,
    InvalidInput,
    Tenant,
    parse_tenant,
    validate_company_name,
    validate_email,
    validate_tenant_id,
    validate_tier,
)
from tenantform.tiers import Tier

PLATFORM = PlatformConfig()
HOSTILE = [
    "../x", "..", "/etc/passwd", "acme/../../etc", "acme;rm -rf /", "$(touch pwned)", "`touch pwned`",
    "acme && touch pwned", "acme|id", "acme\nid", "acme\r\n", "acme\x00", "acme\u200b", "\u0430cme",  # Cyrillic a
    "\uff41\uff43\uff4d\uff45", "ACME", "acme-", "-acme", "a" * 33, "a" * 100_000, "${file(\"/etc/passwd\")}",
    "%{if true}x%{endif}", "tenant=acme", "kube-system", "default", "aws-corp", "", " ", "acme ", "\t",
    "acme\u202egnp.exe", "ǅ", "0acme", "acme.corp", "acme_corp", "=", "tier=", "email=a@b", "'; DROP TABLE x;--",
]
hostile = st.sampled_from(HOSTILE)
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
anything = st.one_of(hostile, text, st.integers(), st.booleans(), st.lists(st.text(max_size=5), max_size=3),
                     st.sampled_from([t.value for t in Tier]), st.just("admin@acme.example.com"))

# Service rules for each derived name (AWS and Kubernetes API documentation), applied with
# re.fullmatch: `$` alone would accept a trailing newline.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
NAME_RULES = {
    "namespace": DNS_LABEL,
    "service_account": DNS_SUBDOMAIN,
    "order_table": re.compile(r"[A-Za-z0-9_.-]{3,255}"),
    "irsa_role": re.compile(r"[\w+=,.@-]{1,64}", re.ASCII),
    "user_pool": re.compile(r"[\w\s+=,.@-]{1,128}", re.ASCII),
    "user_pool_domain": DNS_LABEL,
    "app_client": re.compile(r"[\w\s+=,.@-]{1,128}", re.ASCII),
    "admin_username": re.compile(r"[\w+=,.@-]{1,128}", re.ASCII),
}
# Whitespace around or inside an otherwise valid value (issue 11: `acme\n` passed `re.match(...$)`).
WHITESPACE_VARIANTS = ("{}\n", "{}\r\n", "{} ", " {}", "\t{}", "{}\t", "{}\x0b", "{}\x0c", "\n{}", "{}\u00a0",
                       "{}\u2028")


def hcl_literal(value: str) -> str:
    """What Terraform makes of a string in JSON syntax: `$${`/`%%{` are literal `${`/`%{`; a bare
    `${` or `%{` would start a template (evaluated: the injection we must never allow)."""
    out, i = [], 0
    while i < len(value):
        if value.startswith(("$${", "%%{"), i):
            out.append(value[i + 1:i + 3])
            i += 3
        elif value.startswith(("${", "%{"), i):
            raise AssertionError(f"live template sequence at {i} in {value!r}")
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def assert_renders_safely(tenant: Tenant, tmp: Path) -> None:
    names = tenant_names(tenant.id, platform_name=PLATFORM.name)
    for field, rule in NAME_RULES.items():
        assert rule.fullmatch(getattr(names, field)), (field, getattr(names, field))
    for layer in (INFRA, APPS):
        key = names.state_key(layer)
        assert key.startswith(f"tenants/{tenant.id}/") and ".." not in key and "//" not in key
    from tenantform.targets import LocalTarget

    doc = render_infra_root(tenant, target=LocalTarget(Settings(project_dir=tmp), PLATFORM), platform=PLATFORM,
                            version="v", out_dir=tmp / "cdktf.out")
    call = doc["module"]["tenant"]
    for key in ("company_name", "admin_email", "tenant_id", "namespace", "order_table_name"):
        assert hcl_literal(call[key]) == {"company_name": tenant.company_name, "admin_email": tenant.admin_email,
                                          "tenant_id": tenant.id, "namespace": names.namespace,
                                          "order_table_name": names.order_table}[key]
    json.dumps(doc)  # serialisable as Terraform JSON
    for key in object_keys(doc):  # tenant data must not turn into a key that Terraform evaluates
        assert hcl_literal(key) == key and key.isprintable() and key == key.strip(), key


def object_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [k for v in value.values() for k in object_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in object_keys(v)]
    return []


def assert_clear_refusal(exc: InvalidInput, *, fields: tuple[str, ...]) -> None:
    assert exc.field in fields, exc.field
    assert f"field '{exc.field}'" in str(exc) and "allowed:" in str(exc)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


# -- tenant files ------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.one_of(
    st.fixed_dictionaries({}, optional={name: anything for name in (*TENANT_FIELDS, "extra", "id ")}),
    st.fixed_dictionaries({  # mostly valid: exercises the rendering of accepted tenants
        "id": st.one_of(st.from_regex(r"[a-z]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True), hostile),
        "company_name": st.one_of(text, hostile), "tier": st.sampled_from([t.value for t in Tier]),
        "admin_email": st.one_of(st.emails(), hostile)})))
def test_a_tenant_file_is_valid_and_safe_or_refused_naming_the_field(workdir: Path, values: dict[str, Any]) -> None:
    source = str(workdir / "tenants" / "x.toml")
    try:
        document = tomli_w.dumps(values)
    except (TypeError, ValueError):
        return  # not representable as TOML: cannot be a tenant file
    try:
        tenant = parse_tenant(document, source=source)
    except InvalidInput as exc:
        assert_clear_refusal(exc, fields=(*TENANT_FIELDS, "extra", "id ", "(file)"))
        assert exc.source == source and source in str(exc)
        return
    assert validate_tenant_id(tenant.id) == tenant.id
    assert_renders_safely(tenant, workdir)


VALID_IDS = st.from_regex(r"[a-z]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True).filter(
    lambda v: v not in RESERVED_TENANT_IDS and not v.startswith(RESERVED_TENANT_PREFIXES)
    and not any(word in v for word in FORBIDDEN_TENANT_WORDS))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenant_id=VALID_IDS, name=st.text(alphabet=st.characters(categories=("L", "N", "P", "Zs")), min_size=1,
                                         max_size=60).map(str.strip).filter(str.isprintable).filter(bool),
       tier=st.sampled_from([t.value for t in Tier]))
def test_a_valid_tenant_file_is_accepted_and_renders_safely(workdir: Path, tenant_id: str, name: str,
                                                            tier: str) -> None:
    """Valid files on their own (not a side effect of the mixed property above): each is accepted."""
    document = tomli_w.dumps({"id": tenant_id, "company_name": name, "tier": tier,
                              "admin_email": f"admin@{tenant_id}.example.com"})
    tenant = parse_tenant(document, source="tenants/x.toml")
    assert (tenant.id, tenant.company_name, tenant.tier.value) == (tenant_id, name, tier)
    assert_renders_safely(tenant, workdir)


NOT_TOML = ['id = "a"\nid = "b"', 'id = """', "\x00", "id=1e9999x", "id = acme", "= 1", "[x\n", 'id = "a\nb"']


@pytest.mark.parametrize("document", NOT_TOML)
def test_a_file_that_is_not_toml_is_refused_as_a_file_error(document: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_tenant(document, source="tenants/x.toml")
    assert info.value.field == "(file)"
    assert "tenants/x.toml" in str(info.value) and "field '(file)'" in str(info.value)


@settings(max_examples=200, deadline=None)
@given(document=st.one_of(text, st.sampled_from(NOT_TOML + ["[[x]]", "", "id = 1"])))
def test_random_text_is_never_a_tenant(document: str) -> None:
    """No random text (or TOML without the four fields) is accepted; each refusal names the file."""
    with pytest.raises(InvalidInput) as info:
        parse_tenant(document, source="tenants/x.toml")
    assert "tenants/x.toml" in str(info.value) and f"field '{info.value.field}'" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(text, hostile, st.builds(lambda a, b: f"{a}${{{b}}}%{{{b}}}$${{{a}}}", text, text)))
def test_company_names_reach_terraform_as_literals(workdir: Path, name: str) -> None:
    try:
        tenant = Tenant.create(id="acme", company_name=name, admin_email="a@acme.example.com", tier="basic")
    except InvalidInput as exc:
        assert_clear_refusal(exc, fields=("company_name",))
        return
    assert_renders_safely(tenant, workdir)


# -- whitespace around valid values: fullmatch semantics everywhere -----------------------------
@pytest.mark.parametrize("variant", WHITESPACE_VARIANTS, ids=repr)
@pytest.mark.parametrize("validator,valid,field", [
    (validate_tenant_id, "acme", "id"),
    (validate_email, "admin@acme.example.com", "admin_email"),
    (validate_tier, "basic", "tier"),
    (validate_company_name, "Acme Corp", "company_name"),
], ids=["tenant-id", "email", "tier", "company-name"])
def test_whitespace_around_a_valid_value_is_refused(validator: Any, valid: str, field: str, variant: str) -> None:
    assert validator(valid) is not None  # control: the bare value is accepted
    with pytest.raises(InvalidInput) as info:
        validator(variant.format(valid))
    assert info.value.field == field


@pytest.mark.parametrize("variant", WHITESPACE_VARIANTS, ids=repr)
@pytest.mark.parametrize("field,valid", [("name", "tenantform"), ("region", "eu-west-1"), ("domain", "example.com"),
                                         ("api_stage_name", "v1"), ("vpc_cni_addon_version", "v1.19.2-eksbuild.1")])
def test_whitespace_in_platform_settings_is_refused(tmp_path: Path, field: str, valid: str, variant: str) -> None:
    from tenantform.platform_config import load_platform_config

    path = tmp_path / "platform.toml"
    path.write_text(tomli_w.dumps({field: valid}), encoding="utf-8")
    assert getattr(load_platform_config(path), field) == valid  # control
    path.write_text(tomli_w.dumps({field: variant.format(valid)}), encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_platform_config(path)
    assert info.value.field == field and str(path) in str(info.value)


@pytest.mark.parametrize("variant", WHITESPACE_VARIANTS, ids=repr)
@pytest.mark.parametrize("field,valid", [("organization", "acme-corp"), ("hostname", "app.terraform.io"),
                                         ("address", "https://tfe.example.com"), ("terraform_version", "1.11.4")])
def test_whitespace_in_tfc_settings_is_refused(field: str, valid: str, variant: str) -> None:
    from tenantform.tfc import TfcSettings

    values = {"organization": "acme-corp", "project": "saas", field: valid}
    assert getattr(TfcSettings(**values), field) == valid  # control
    with pytest.raises(InvalidInput) as info:
        TfcSettings(**{**values, field: variant.format(valid)})
    assert info.value.field == field


# -- command-line words --------------------------------------------------------------------------------
WORD_KEYS = ("tenant", "tier", "email", "name", "target")


CONTEXTS = ns.to_contexts()
ONBOARD = next(c for c in CONTEXTS if c.name == "onboard")


@settings(max_examples=400, deadline=None)
@given(words=st.lists(st.one_of(hostile, text, st.builds(lambda k, v: f"{k}={v}", st.sampled_from(WORD_KEYS),
                                                           st.one_of(hostile, text))), max_size=6))
def test_keyword_words_become_flags_with_their_values_unchanged_or_are_refused(words: list[str]) -> None:
    from invoke import Program

    if "--" in words:
        return  # everything after `--` is invoke's remainder, passed through untouched
    try:
        argv = keyword_argv(["onboard", *words], CONTEXTS, Program().initial_context)
    except Exit as exc:
        assert exc.code == 2 and str(exc.message).startswith("error: ") and "\n" not in str(exc.message).strip()
        return
    # accepted: every word was `key=value` with a key of onboard, each key once, value carried verbatim
    expected: list[str] = ["onboard"]
    for word in words:
        if word in {c.name for c in CONTEXTS}:
            return  # a word that is a task name starts another task: invoke's own business
        key, _, value = word.partition("=")
        expected += [f"--{key}", value]
    assert argv == expected
    assert len({w.partition("=")[0] for w in words}) == len(words)


@pytest.fixture(scope="module")
def empty_project(workdir: Path) -> Project:
    return Project(Settings(project_dir=workdir / "project"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant=st.one_of(hostile, text), tier=st.one_of(st.none(), hostile, st.sampled_from([t.value for t in Tier])),
       email=st.one_of(st.none(), hostile, text), name=st.one_of(st.none(), hostile, text))
def test_arguments_resolve_to_a_safe_tenant_or_are_refused_writing_nothing(empty_project: Project, tenant: str,
                                                                           tier: Any, email: Any, name: Any) -> None:
    root = empty_project.settings.project_dir
    try:
        resolved, is_new = workflows.resolve_tenant(empty_project, tenant_id=tenant, tier=tier, email=email, name=name)
    except InvalidInput as exc:
        assert_clear_refusal(exc, fields=("id", "tier", "admin_email", "company_name"))
    else:
        assert is_new and resolved.id == tenant
        assert_renders_safely(resolved, root.parent)
    assert not (root / "tenants").exists() and not (root / "cdktf.out").exists() and not (root / ".tenantform").exists()


# -- real command lines (no emulator needed: validation comes first) ---------------------------------
def _untouched(project_dir: Path, *, tenant_files: set[str] = frozenset()) -> None:
    assert {p.name for p in (project_dir / "tenants").iterdir()} == set(tenant_files)
    assert not (project_dir / "cdktf.out").exists(), "something was synthesised"
    assert not (project_dir / ".tenantform" / "local").exists(), "the emulator was started"
    assert not (project_dir / "pwned").exists(), "a shell ran an argument"


@pytest.mark.parametrize("args, field, shown", [
    (("tenant=../x",), "id", "'../x'"),
    (("tenant=acme;touch pwned",), "id", "acme;touch pwned"),
    (("tenant=$(touch pwned)",), "id", "$(touch pwned)"),
    (("tenant=\u0430cme",), "id", "not a DNS-1123 label"),
    (("tenant=" + "a" * 100_000,), "id", "100000 characters"),
    (("tenant=acme\nx",), "id", "not a DNS-1123 label"),
    (("tenant=kube-system",), "id", "reserved"),
    (("tenant=acme", "tier=gold"), "tier", "'gold'"),
    (("tenant=acme", "email=a@b.example;touch pwned"), "admin_email", "not an email address"),
    (("tenant=acme", "name=Evil\nName"), "company_name", "control"),
], ids=["traversal", "semicolon", "subshell", "cyrillic", "huge", "newline", "reserved", "tier", "email", "name"])
def test_cli_refuses_hostile_arguments_and_writes_nothing(fresh_project, args: tuple[str, ...], field: str,
                                                          shown: str) -> None:
    proc = fresh_project.run("onboard", *args, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"field '{field}'" in output and shown in output, output[-2000:]
    assert "Traceback" not in output
    _untouched(fresh_project.project_dir)


def test_cli_refuses_a_hostile_tenant_file_naming_it(fresh_project) -> None:
    bad = fresh_project.project_dir / "tenants" / "evil.toml"
    bad.write_text('id = "evil"\ncompany_name = "x"\nadmin_email = "a@b.example.com"\ntier = "basic"\n'
                   'command = "$(touch pwned)"\n', encoding="utf-8")
    proc = fresh_project.run("synth", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and str(bad) in output and "field 'command'" in output, output[-2000:]
    _untouched(fresh_project.project_dir, tenant_files={"evil.toml"})


# -- end to end: template syntax in a company name stays data ---------------------------------------
@pytest.mark.integration
def test_template_syntax_in_a_company_name_is_stored_verbatim(local_project) -> None:
    name = 'Evil ${file("/etc/passwd")} %{if true}x%{endif} $${x} Inc.'
    local_project.run("onboard", "tenant=hostile-name", f"name={name}")
    project = local_project.project()
    item = project.target.client("dynamodb").get_item(
        TableName=project.platform.catalogue_table_name, Key={"tenant_id": {"S": "hostile-name"}})["Item"]
    assert item["company_name"]["S"] == name
