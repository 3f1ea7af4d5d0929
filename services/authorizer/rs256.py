"""RS256 (RSASSA-PKCS1-v1_5 with SHA-256) for PyJWT, on the pure-Python `rsa` package.

Lambda's python3.11 runtime has no `cryptography`, which PyJWT's own RSA algorithms need, so the
authorizer registers this one instead (and only this one) on its own `PyJWS` instance. It verifies,
never signs: the authorizer holds no private key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import rsa
from jwt.algorithms import Algorithm

MIN_KEY_BITS = 2048


def b64url_int(value: str) -> int:
    padded = value + "=" * (-len(value) % 4)
    return int.from_bytes(base64.urlsafe_b64decode(padded.encode("ascii")), "big")


class RS256(Algorithm):
    def prepare_key(self, key: Any) -> rsa.PublicKey:
        if not isinstance(key, rsa.PublicKey):
            raise TypeError("RS256 verification needs an rsa.PublicKey (from the issuer's JWKS)")
        if key.n.bit_length() < MIN_KEY_BITS:
            raise ValueError(f"RSA key shorter than {MIN_KEY_BITS} bits")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        raise NotImplementedError("the authorizer only verifies")

    def verify(self, msg: bytes, key: rsa.PublicKey, sig: bytes) -> bool:
        try:
            # rsa.verify reads the hash from the signature itself: insist on SHA-256, or a
            # SHA-1 signature by the same key would pass as "RS256".
            return rsa.verify(msg, sig, key) == "SHA-256"
        except rsa.VerificationError:
            return False

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        raise NotImplementedError("the authorizer only reads JWKs")

    @staticmethod
    def from_jwk(jwk: Any) -> rsa.PublicKey:
        data = json.loads(jwk) if isinstance(jwk, str) else jwk
        if data.get("kty") != "RSA" or data.get("alg", "RS256") != "RS256" or data.get("use", "sig") != "sig":
            raise ValueError("not an RS256 signing key")
        return rsa.PublicKey(b64url_int(data["n"]), b64url_int(data["e"]))
