"""Isolation on the request path: the SYNTHESISED authorizer zip, called with API Gateway REQUEST
events (payload 1.0, as a REST API sends them), against two tenants onboarded on the local target.

The platform is the session's `local_project` (tests/conftest.py); users and tokens come from moto's
Cognito (AdminCreateUser, AdminInitiateAuth: real RS256 tokens). Claims moto will not sign (expired,
not yet valid, a forged custom:tenant-id) are signed with a key of this test, whose JWKS a tiny
HTTP server on 127.0.0.1 serves as the tenant pool's keys. The handler runs in this process with
the environment Lambda would give it; moto runs no Lambda code (docs/security.md, "Request path and tenant identity").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

pytestmark = pytest.mark.integration

ACME, GLOBEX = "authz-acme", "authz-globex"
TIERS = {ACME: "basic", GLOBEX: "premium"}
PASSWORD = "Correct-Horse-9-battery"
ACCOUNT = "123456789012"
VENDORED = ("jwt", "rsa", "pyasn1", "authorizer")


# -- tokens made by hand (never by the code under test) ----------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def sign_rs256(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def jwk_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64url(as_bytes(numbers.n)),
            "e": b64url(as_bytes(numbers.e))}


def decode_segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class JwksServer:
    """Serves `{"keys": [...]}` at `/<pool id>/.well-known/jwks.json`; counts requests."""

    def __init__(self) -> None:
        self.keys: dict[str, list[dict[str, str]]] = {}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                parts = self.path.split("/")
                keys = server.keys.get(parts[1]) if len(parts) == 4 and parts[2:] == [".well-known", "jwks.json"] else None
                body = json.dumps({"keys": keys or []}).encode()
                self.send_response(200 if keys is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the world: two tenants, their users, the unpacked zip ----------------------------------------------
@dataclass
class TenantWorld:
    tenant_id: str
    pool_id: str
    client_id: str
    api_key_value: str
    access_token: str
    id_token: str


@dataclass
class World:
    tenants: dict[str, TenantWorld]
    handler: Any
    """The unpacked zip's `authorizer.handler` module."""
    zip_dir: Path
    moto_endpoint: str
    region: str
    api_id: str
    stage: str
    idp: Any
    env: dict[str, str]


def onboard_with_user(cli: Any, project: Any, tenant_id: str) -> TenantWorld:
    cli.run("onboard", f"tenant={tenant_id}", f"tier={TIERS[tenant_id]}", f"email=owner@{tenant_id}.example.com",
            f"name={tenant_id} Corp")
    ddb, idp, apigw = (project.target.client(s) for s in ("dynamodb", "cognito-idp", "apigateway"))
    item = ddb.get_item(TableName=project.platform.catalogue_table_name, Key={"tenant_id": {"S": tenant_id}})["Item"]
    pool_id, client_id = item["user_pool_id"]["S"], item["app_client_id"]["S"]
    api_key = apigw.get_api_key(apiKey=item["api_key_id"]["S"], includeValue=True)["value"]
    idp.admin_create_user(UserPoolId=pool_id, Username="alice", TemporaryPassword="Temporary-Pass-1",
                          MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": f"alice@{tenant_id}.example.com"}])
    idp.admin_set_user_password(UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True)
    tokens = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})["AuthenticationResult"]
    return TenantWorld(tenant_id, pool_id, client_id, api_key, tokens["AccessToken"], tokens["IdToken"])


def unpack_synthesised_zip(project: Any, destination: Path) -> Path:
    """The zip the synthesised platform references (filename relative to its workspace), checked
    against the `source_code_hash` terraform applied."""
    workspace = project.workspace_dir("platform")
    doc = json.loads((workspace / "cdk.tf.json").read_text(encoding="utf-8"))
    (function,) = doc["resource"]["aws_lambda_function"].values()
    data = (workspace / function["filename"]).read_bytes()
    assert base64.b64encode(hashlib.sha256(data).digest()).decode() == function["source_code_hash"]
    with zipfile.ZipFile(workspace / function["filename"]) as archive:
        archive.extractall(destination)
    assert function["handler"] == "authorizer.handler.handler"
    return destination


def _forget_vendored() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in VENDORED:
            del sys.modules[name]


@pytest.fixture(scope="module")
def world(local_project: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cli = local_project
    project = cli.project()
    tenants = {t: onboard_with_user(cli, project, t) for t in (ACME, GLOBEX)}
    zip_dir = unpack_synthesised_zip(project, tmp_path_factory.mktemp("authorizer-zip"))
    outputs = project.terraform("platform").outputs()
    _forget_vendored()
    sys.path.insert(0, str(zip_dir))
    try:
        import authorizer.handler as handler  # the zip's copy, with the zip's PyJWT and rsa
        import jwt as vendored_jwt
        import rsa as vendored_rsa

        for module in (handler, vendored_jwt, vendored_rsa):
            assert Path(module.__file__).is_relative_to(zip_dir), module.__file__
        endpoint = project.target.server.endpoint
        env = {"AWS_REGION": project.platform.region, "CATALOGUE_TABLE": project.platform.catalogue_table_name,
               "COGNITO_JWKS_ENDPOINT": endpoint, "AWS_ENDPOINT_URL": endpoint,
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        yield World(tenants, handler, zip_dir, endpoint, project.platform.region, outputs["api_id"],
                    outputs["api_stage_name"], project.target.client("cognito-idp"), env)
    finally:
        sys.path.remove(str(zip_dir))
        _forget_vendored()
        for tenant_id in (ACME, GLOBEX):
            cli.run("offboard", f"tenant={tenant_id}", "--yes", check=False)


def event(world: World, path: str, authorization: str | None, *, method: str = "GET",
          extra_headers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A REST API (payload 1.0) REQUEST authorizer event, shaped as API Gateway sends it."""
    headers: dict[str, list[str]] = {"Accept": ["application/json"], "Host": [f"{world.api_id}.execute-api."
                                     f"{world.region}.amazonaws.com"], "User-Agent": ["pytest"],
                                     "X-Forwarded-Proto": ["https"]}
    if authorization is not None:
        headers["Authorization"] = [authorization]
    headers.update(extra_headers or {})
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{world.region}:{ACCOUNT}:{world.api_id}/{world.stage}/{method}{path}",
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {"tenant": GLOBEX},
        "multiValueQueryStringParameters": {"tenant": [GLOBEX]},
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": {},
        "requestContext": {
            "resourceId": "abc123", "resourcePath": "/{proxy+}", "httpMethod": method,
            "extendedRequestId": "e-1", "requestTime": "30/Nov/2026:12:00:00 +0000",
            "path": f"/{world.stage}{path}", "accountId": ACCOUNT, "protocol": "HTTP/1.1", "stage": world.stage,
            "domainPrefix": world.api_id, "requestTimeEpoch": int(time.time() * 1000), "requestId": "r-1",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest", "apiKey": None},
            "domainName": f"{world.api_id}.execute-api.{world.region}.amazonaws.com", "apiId": world.api_id,
        },
    }


def call(world: World, monkeypatch: pytest.MonkeyPatch, evt: dict[str, Any], **env: str) -> dict[str, Any]:
    """`handler.handler(event, context)` with the environment Lambda would set (fresh cold start)."""
    for name, value in {**world.env, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(world.handler, "_AUTHORIZER", None)
    return world.handler.handler(evt, None)


def effect(response: dict[str, Any], evt: dict[str, Any]) -> str:
    (statement,) = response["policyDocument"]["Statement"]
    assert statement["Resource"] == evt["methodArn"] and statement["Action"] == "execute-api:Invoke"
    return statement["Effect"]


def assert_denied(response: dict[str, Any], evt: dict[str, Any]) -> None:
    assert effect(response, evt) == "Deny"
    assert "usageIdentifierKey" not in response and "context" not in response


def bearer(token: str) -> str:
    return f"Bearer {token}"


# -- allowed ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant_id", [ACME, GLOBEX])
@pytest.mark.parametrize("method,rest", [("GET", "/orders"), ("POST", "/products"), ("DELETE", "/orders/o-1")])
def test_own_token_on_own_path_is_allowed_with_own_key_and_context(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                     tenant_id: str, method: str, rest: str) -> None:
    me = world.tenants[tenant_id]
    evt = event(world, f"/{tenant_id}{rest}", bearer(me.access_token), method=method)
    response = call(world, monkeypatch, evt)
    assert effect(response, evt) == "Allow"
    assert response["usageIdentifierKey"] == me.api_key_value
    assert response["context"] == {"tenant_id": tenant_id, "tier": TIERS[tenant_id], "deployment": "silo"}
    assert response["principalId"] == decode_segment(me.access_token, 1)["sub"]
    other = world.tenants[GLOBEX if tenant_id == ACME else ACME]
    assert response["usageIdentifierKey"] != other.api_key_value


@pytest.fixture
def acme_deployment(world: World, local_project: Any) -> Iterator[Callable[[dict[str, Any] | None], None]]:
    """Rewrites the `deployment` attribute of acme's catalogue entry (None: removes it), as a
    tier change does; the entry is put back as it was afterwards."""
    project = local_project.project()
    ddb, table, key = project.target.client("dynamodb"), project.platform.catalogue_table_name, {"tenant_id": {"S": ACME}}
    original = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]

    def rewrite(value: dict[str, Any] | None) -> None:
        item = {k: v for k, v in original.items() if k != "deployment"}
        ddb.put_item(TableName=table, Item=item if value is None else {**item, "deployment": value})

    try:
        yield rewrite
    finally:
        ddb.put_item(TableName=table, Item=original)


@pytest.mark.parametrize("stored,expected", [(None, "silo"), ({"S": "silo"}, "silo"), ({"S": "pool"}, "pool")])
def test_context_carries_the_catalogues_deployment(world: World, monkeypatch: pytest.MonkeyPatch,
                                                   acme_deployment: Callable[[dict[str, Any] | None], None],
                                                   stored: dict[str, Any] | None, expected: str) -> None:
    acme_deployment(stored)
    evt = event(world, f"/{ACME}/products", bearer(world.tenants[ACME].access_token), method="POST")
    response = call(world, monkeypatch, evt)
    assert effect(response, evt) == "Allow"
    assert response["context"] == {"tenant_id": ACME, "tier": TIERS[ACME], "deployment": expected}


@pytest.mark.parametrize("stored", [{"S": "POOL"}, {"S": "mixed"}, {"S": ""}, {"S": "pool "}, {"N": "1"},
                                    {"BOOL": True}])
def test_an_unknown_deployment_is_denied(world: World, monkeypatch: pytest.MonkeyPatch,
                                         acme_deployment: Callable[[dict[str, Any] | None], None],
                                         stored: dict[str, Any]) -> None:
    acme_deployment(stored)
    evt = event(world, f"/{ACME}/orders", bearer(world.tenants[ACME].access_token))
    assert_denied(call(world, monkeypatch, evt), evt)


# -- denied -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [f"/{GLOBEX}/orders", f"/{GLOBEX}/products", f"/{GLOBEX}", "/unknown-tenant/orders",
                                  f"/{ACME}x/orders", "/", "//orders", f"/{ACME.upper()}/orders"])
def test_acme_token_on_another_tenants_path_is_denied(world: World, monkeypatch: pytest.MonkeyPatch,
                                                      path: str) -> None:
    evt = event(world, path, bearer(world.tenants[ACME].access_token))
    assert_denied(call(world, monkeypatch, evt), evt)


def test_method_arn_for_another_tenant_is_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    evt = event(world, f"/{ACME}/orders", bearer(world.tenants[ACME].access_token))
    evt["methodArn"] = evt["methodArn"].replace(f"/GET/{ACME}/", f"/GET/{GLOBEX}/")
    assert_denied(call(world, monkeypatch, evt), evt)


def test_another_pools_token_is_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto signs every pool's tokens with one key: only the issuer check tells the pools apart
    assert decode_segment(world.tenants[GLOBEX].access_token, 0)["kid"] == \
        decode_segment(world.tenants[ACME].access_token, 0)["kid"]
    evt = event(world, f"/{ACME}/orders", bearer(world.tenants[GLOBEX].access_token))
    assert_denied(call(world, monkeypatch, evt), evt)


def test_token_of_another_client_of_the_same_pool_is_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    acme = world.tenants[ACME]
    other = world.idp.create_user_pool_client(UserPoolId=acme.pool_id, ClientName="not-the-app",
                                              ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"])
    client_id = other["UserPoolClient"]["ClientId"]
    tokens = world.idp.admin_initiate_auth(UserPoolId=acme.pool_id, ClientId=client_id,
                                           AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                           AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})
    token = tokens["AuthenticationResult"]["AccessToken"]
    assert decode_segment(token, 1)["iss"].endswith(acme.pool_id)
    evt = event(world, f"/{ACME}/orders", bearer(token))
    assert_denied(call(world, monkeypatch, evt), evt)


def test_id_token_is_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    evt = event(world, f"/{ACME}/orders", bearer(world.tenants[ACME].id_token))
    assert_denied(call(world, monkeypatch, evt), evt)


def test_tampered_signature_and_payload_are_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    token = world.tenants[ACME].access_token
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    claims = decode_segment(token, 1)
    forged_body = segment({**claims, "exp": claims["exp"] + 86400})
    for tampered in (f"{head}.{body}.{flipped}", f"{head}.{forged_body}.{signature}", f"{head}.{body}.",
                     f"{head}.{body}.{signature[:-8]}"):
        evt = event(world, f"/{ACME}/orders", bearer(tampered))
        assert_denied(call(world, monkeypatch, evt), evt)


def test_alg_none_is_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    claims = decode_segment(world.tenants[ACME].access_token, 1)
    for alg in ("none", "None", "NONE"):
        token = f"{segment({'alg': alg, 'kid': 'dummy', 'typ': 'JWT'})}.{segment(claims)}."
        evt = event(world, f"/{ACME}/orders", bearer(token))
        assert_denied(call(world, monkeypatch, evt), evt)


def test_hs256_with_the_public_key_as_secret_is_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    acme = world.tenants[ACME]
    with urllib.request.urlopen(f"{world.moto_endpoint}/{acme.pool_id}/.well-known/jwks.json") as response:
        (jwk,) = json.loads(response.read())["keys"]
    n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big")
    e = int.from_bytes(base64.urlsafe_b64decode(jwk["e"] + "=" * (-len(jwk["e"]) % 4)), "big")
    public = rsa.RSAPublicNumbers(e, n).public_key()
    claims = decode_segment(acme.access_token, 1)
    for secret in (public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
                   public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
                   json.dumps(jwk).encode()):
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            signing_input = f"{segment({'alg': alg, 'kid': jwk['kid'], 'typ': 'JWT'})}.{segment(claims)}"
            token = f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), digest).digest())}"
            evt = event(world, f"/{ACME}/orders", bearer(token))
            assert_denied(call(world, monkeypatch, evt), evt)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "bearer {token}", "Basic {token}", "Bearer {token} x", "Bearer  {token}",
    "Bearer {token}\n", " Bearer {token}", "Bearer not-a-jwt", "Bearer a.b.c", "{token}",
])
def test_missing_or_malformed_header_is_denied(world: World, monkeypatch: pytest.MonkeyPatch,
                                               authorization: str | None) -> None:
    value = None if authorization is None else authorization.format(token=world.tenants[ACME].access_token)
    evt = event(world, f"/{ACME}/orders", value)
    assert_denied(call(world, monkeypatch, evt), evt)


def test_two_authorization_headers_are_denied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    acme, globex = world.tenants[ACME], world.tenants[GLOBEX]
    evt = event(world, f"/{ACME}/orders", bearer(globex.access_token),
                extra_headers={"authorization": [bearer(acme.access_token)]})
    assert_denied(call(world, monkeypatch, evt), evt)


def test_a_user_rewriting_its_tenant_attribute_changes_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts UpdateUserAttributes on an immutable attribute (docs/security.md, "Request path and tenant identity"): the schema cannot be
    proven here, but the decision never depends on the attribute."""
    acme = world.tenants[ACME]
    try:
        world.idp.update_user_attributes(AccessToken=acme.access_token, UserAttributes=[
            {"Name": "custom:tenant-id", "Value": GLOBEX}, {"Name": "custom:tier", "Value": "platinum"}])
    except world.idp.exceptions.ClientError:
        pass  # refused (as AWS would): even better
    tokens = world.idp.admin_initiate_auth(UserPoolId=acme.pool_id, ClientId=acme.client_id,
                                           AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                           AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})
    token = tokens["AuthenticationResult"]["AccessToken"]
    allowed = event(world, f"/{ACME}/orders", bearer(token))
    response = call(world, monkeypatch, allowed)
    assert effect(response, allowed) == "Allow"
    assert response["context"] == {"tenant_id": ACME, "tier": TIERS[ACME], "deployment": "silo"}
    denied = event(world, f"/{GLOBEX}/orders", bearer(token))
    assert_denied(call(world, monkeypatch, denied), denied)


# -- claims moto will not sign: a key of this test, served as acme's pool JWKS ------------------------------
@pytest.fixture(scope="module")
def own_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_server(world: World, own_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys[world.tenants[ACME].pool_id] = [jwk_of(own_key, "test-key")]
    server.keys[world.tenants[GLOBEX].pool_id] = [jwk_of(own_key, "test-key")]
    try:
        yield server
    finally:
        server.close()


def own_claims(world: World, who: str = ACME, **overrides: Any) -> dict[str, Any]:
    me = world.tenants[who]
    now = int(time.time())
    claims = {"iss": f"https://cognito-idp.{world.region}.amazonaws.com/{me.pool_id}", "sub": "user-1",
              "client_id": me.client_id, "token_use": "access", "scope": "openid", "iat": now - 5,
              "auth_time": now - 5, "exp": now + 600, "jti": "j-1", "username": "alice"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def decide(world: World, monkeypatch: pytest.MonkeyPatch, server: JwksServer, key: rsa.RSAPrivateKey,
           claims: dict[str, Any], path: str = f"/{ACME}/orders", kid: str = "test-key") -> str:
    evt = event(world, path, bearer(sign_rs256(key, {"alg": "RS256", "kid": kid, "typ": "JWT"}, claims)))
    response = call(world, monkeypatch, evt, COGNITO_JWKS_ENDPOINT=server.endpoint)
    return effect(response, evt)


def test_own_key_control_valid_token_is_allowed(world: World, monkeypatch: pytest.MonkeyPatch,
                                                jwks_server: JwksServer, own_key: rsa.RSAPrivateKey) -> None:
    """The control for the cases below: with every claim right, this key's token is allowed."""
    assert decide(world, monkeypatch, jwks_server, own_key, own_claims(world)) == "Allow"


@pytest.mark.parametrize("case,offsets,expected", [
    ("expired an hour ago", {"exp": -3600}, "Deny"),
    ("expired 61 s ago (beyond the 60 s skew)", {"exp": -61}, "Deny"),
    ("expired 30 s ago (within the skew)", {"exp": -30}, "Allow"),
    ("not valid for another hour", {"nbf": 3600}, "Deny"),
    ("not valid for 30 s (within the skew)", {"nbf": 30}, "Allow"),
    ("issued in the future", {"iat": 3600}, "Deny"),
    ("no exp", {"exp": None}, "Deny"),
])
def test_time_claims_with_bounded_skew(world: World, monkeypatch: pytest.MonkeyPatch, jwks_server: JwksServer,
                                       own_key: rsa.RSAPrivateKey, case: str, offsets: dict[str, int | None],
                                       expected: str) -> None:
    now = int(time.time())
    claims = own_claims(world, **{k: None if v is None else now + v for k, v in offsets.items()})
    assert decide(world, monkeypatch, jwks_server, own_key, claims) == expected, case


@pytest.mark.parametrize("case,overrides", [
    ("token_use id", {"token_use": "id"}),
    ("no token_use", {"token_use": None}),
    ("another tenant's client", {"client_id": "GLOBEX"}),
    ("no client_id", {"client_id": None}),
    ("issuer of another region", {"iss": "REGION"}),
    ("issuer with a trailing slash", {"iss": "SLASH"}),
    ("issuer over http", {"iss": "HTTP"}),
])
def test_claims_that_do_not_fit_are_denied(world: World, monkeypatch: pytest.MonkeyPatch, jwks_server: JwksServer,
                                           own_key: rsa.RSAPrivateKey, case: str, overrides: dict[str, Any]) -> None:
    acme = world.tenants[ACME]
    replacements = {"GLOBEX": world.tenants[GLOBEX].client_id,
                    "REGION": f"https://cognito-idp.eu-west-1.amazonaws.com/{acme.pool_id}",
                    "SLASH": f"https://cognito-idp.{world.region}.amazonaws.com/{acme.pool_id}/",
                    "HTTP": f"http://cognito-idp.{world.region}.amazonaws.com/{acme.pool_id}"}
    claims = own_claims(world, **{k: replacements.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()})
    assert decide(world, monkeypatch, jwks_server, own_key, claims) == "Deny", case


def test_custom_tenant_claim_changes_nothing(world: World, monkeypatch: pytest.MonkeyPatch, jwks_server: JwksServer,
                                             own_key: rsa.RSAPrivateKey) -> None:
    claims = own_claims(world, **{"custom:tenant-id": GLOBEX, "custom:tier": "platinum", "tenant_id": GLOBEX})
    evt = event(world, f"/{ACME}/orders", bearer(sign_rs256(own_key, {"alg": "RS256", "kid": "test-key"}, claims)))
    response = call(world, monkeypatch, evt, COGNITO_JWKS_ENDPOINT=jwks_server.endpoint)
    assert effect(response, evt) == "Allow"
    assert response["context"] == {"tenant_id": ACME, "tier": TIERS[ACME], "deployment": "silo"}
    assert response["usageIdentifierKey"] == world.tenants[ACME].api_key_value
    assert decide(world, monkeypatch, jwks_server, own_key, claims, path=f"/{GLOBEX}/orders") == "Deny"


def test_unknown_kid_is_denied_and_refetches_at_most_once(world: World, monkeypatch: pytest.MonkeyPatch,
                                                          jwks_server: JwksServer, own_key: rsa.RSAPrivateKey) -> None:
    for name, value in {**world.env, "COGNITO_JWKS_ENDPOINT": jwks_server.endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(world.handler, "_AUTHORIZER", None)
    claims = own_claims(world)
    evt = event(world, f"/{ACME}/orders", bearer(sign_rs256(own_key, {"alg": "RS256", "kid": "test-key"}, claims)))
    assert effect(world.handler.handler(evt, None), evt) == "Allow"
    fetched = jwks_server.requests
    for index in range(20):  # a flood of invented kids: denied, and no flood of JWKS requests
        evt = event(world, f"/{ACME}/orders",
                    bearer(sign_rs256(own_key, {"alg": "RS256", "kid": f"rotated-{index}"}, claims)))
        assert_denied(world.handler.handler(evt, None), evt)
    assert jwks_server.requests == fetched  # within refetch_interval of the first fetch: no refetch


def test_key_rotation_is_picked_up_by_one_refetch(world: World, monkeypatch: pytest.MonkeyPatch,
                                                  jwks_server: JwksServer, own_key: rsa.RSAPrivateKey) -> None:
    """A new key published by the pool is found with one refetch once the rate limit allows it."""
    authorizer_module = sys.modules["authorizer.jwks"]
    acme = world.tenants[ACME]
    ticks = [0.0]
    cache = authorizer_module.JwksCache(endpoint=jwks_server.endpoint, ttl=3600, refetch_interval=60,
                                        clock=lambda: ticks[0])
    assert cache.key(acme.pool_id, "test-key") is not None and cache.fetches == 1
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.keys[acme.pool_id] = [jwk_of(own_key, "test-key"), jwk_of(new_key, "next-key")]
    ticks[0] = 30.0
    assert cache.key(acme.pool_id, "next-key") is None and cache.fetches == 1  # rate-limited
    ticks[0] = 61.0
    assert cache.key(acme.pool_id, "next-key") is not None and cache.fetches == 2
    assert cache.key(acme.pool_id, "next-key") is not None and cache.fetches == 2  # cached


def test_a_key_of_another_issuer_is_not_trusted(world: World, monkeypatch: pytest.MonkeyPatch,
                                                jwks_server: JwksServer, own_key: rsa.RSAPrivateKey) -> None:
    """A correctly formed token signed by a key the pool does not publish (moto's JWKS here)."""
    claims = own_claims(world)
    evt = event(world, f"/{ACME}/orders", bearer(sign_rs256(own_key, {"alg": "RS256", "kid": "dummy"}, claims)))
    assert_denied(call(world, monkeypatch, evt), evt)  # moto publishes kid "dummy", with another key


# -- what terraform applied (moto stores it; it does not run it) ------------------------------------------
def test_the_applied_api_sends_every_request_through_the_authorizer(world: World, local_project: Any) -> None:
    project = local_project.project()
    apigw, lam = project.target.client("apigateway"), project.target.client("lambda")
    (authorizer,) = apigw.get_authorizers(restApiId=world.api_id)["items"]
    assert authorizer["type"] == "REQUEST"
    assert authorizer["identitySource"] == "method.request.header.Authorization,context.httpMethod,context.path"
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    function = lam.get_function(FunctionName="tenantform-authorizer")["Configuration"]
    assert function["Handler"] == "authorizer.handler.handler" and function["Runtime"] == "python3.11"
    workspace_doc = json.loads((project.workspace_dir("platform") / "cdk.tf.json").read_text(encoding="utf-8"))
    (synthesised,) = workspace_doc["resource"]["aws_lambda_function"].values()
    assert function["CodeSha256"] == synthesised["source_code_hash"]  # the zip the tests unpacked
    assert function["FunctionArn"] in authorizer["authorizerUri"]
    assert apigw.get_rest_api(restApiId=world.api_id)["apiKeySource"] == "AUTHORIZER"
    methods = [(r["path"], verb, m) for r in apigw.get_resources(restApiId=world.api_id, embed=["methods"])["items"]
               for verb, m in (r.get("resourceMethods") or {}).items()]
    assert methods, "the API has no methods"
    for path, verb, _ in methods:
        method = apigw.get_method(restApiId=world.api_id, resourceId=next(
            r["id"] for r in apigw.get_resources(restApiId=world.api_id)["items"] if r["path"] == path), httpMethod=verb)
        assert (path, verb, method["authorizationType"], method.get("authorizerId"), method["apiKeyRequired"]) == \
            (path, verb, "CUSTOM", authorizer["id"], True)
