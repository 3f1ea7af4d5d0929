"""HTTP plumbing of the stand-in: the request handler and a self-signed certificate."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import posixpath
import re
import ssl
import tarfile
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.tfc_standin.base import *  # noqa: F403


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tfc-standin")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "standin.pem", directory / "standin.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path



class _Handler(BaseHTTPRequestHandler):
    api: StandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization")
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        body: Any = None
        if raw and parts.path.startswith("/api/"):
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                return self._reply(400, ApiError(400, "bad request", "invalid JSON").document(),
                                   JSONAPI)
        elif parts.path.startswith("/_archivist/"):
            body = raw
        self.api.requests.append(RecordedRequest(
            method=method, path=parts.path, query=query, body=body, raw_length=len(raw),
            authorization=token, headers={k.lower(): v for k, v in self.headers.items()
                                          if k.lower() != "authorization"}))
        fault = self.api.take_fault(method, parts.path)
        if fault is not None and not fault.after_processing:
            return self._fault(fault)
        try:
            status, doc, ctype = self.api.handle(method, parts.path, query, body, token)
        except ApiError as exc:
            status, doc, ctype = exc.status, exc.document(), JSONAPI
        if fault is not None:
            return self._fault(fault)
        self._reply(status, doc, ctype)

    def _fault(self, fault: Fault) -> None:
        title = {429: "too many requests"}.get(fault.status, "bad gateway")
        extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        self._reply(fault.status, ApiError(fault.status, title).document(), JSONAPI, extra)

    def _reply(self, status: int, doc: Any, ctype: str,
               headers: dict[str, str] | None = None) -> None:
        payload = doc if isinstance(doc, bytes) else (
            b"" if doc is None else json.dumps(doc).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")
