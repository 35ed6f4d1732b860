"""DPoP at the resource server (RFC 9449 §7), for the tests: an ASGI layer in
front of a FastMCP app that takes only DPoP-bound tokens.

A request must carry `Authorization: DPoP <token>` and a `DPoP` proof that
verifies with the key in its header, for this request's method and URL,
issued within five minutes, with a jti not seen before, `ath` = the token's
hash, and the key's thumbprint equal to the token's `cnf.jkt`. The token
then goes on to FastMCP's own verifier as a Bearer token. A 401 challenges
with the DPoP scheme. Every proof checked is counted in `CHECKED`.
"""

import base64
import hashlib
import json
import time

import jwt

CHECKED = {"proofs": 0}
_seen = set()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk):
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _check(scope, token, proof):
    header = jwt.get_unverified_header(proof)
    if header.get("typ") != "dpop+jwt" or "d" in header.get("jwk", {}):
        return "bad proof header"
    key = jwt.PyJWK(header["jwk"], algorithm=header["alg"])
    claims = jwt.decode(proof, key.key, algorithms=[header["alg"]])
    host = dict(scope["headers"]).get(b"host", b"").decode()
    url = f"{scope['scheme']}://{host}{scope['path']}"
    if claims.get("htm") != scope["method"] or claims.get("htu") != url:
        return f"htm/htu do not match {scope['method']} {url}"
    if abs(time.time() - claims.get("iat", 0)) > 300:
        return "iat too far off"
    if claims.get("jti") in _seen:
        return "jti replayed"
    _seen.add(claims.get("jti"))
    if claims.get("ath") != _b64(hashlib.sha256(token.encode()).digest()):
        return "ath does not match the token"
    cnf = jwt.decode(token, options={"verify_signature": False}).get("cnf", {})
    if cnf.get("jkt") != _thumbprint(header["jwk"]):
        return "the token is not bound to this key"
    return None


def gate(app):
    async def guarded(scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/mcp"):
            return await app(scope, receive, send)
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode()
        proof = headers.get(b"dpop", b"").decode()
        if auth:
            scheme, _, token = auth.partition(" ")
            problem = "use the DPoP scheme" if scheme.lower() != "dpop" or not proof else None
            if problem is None:
                try:
                    problem = _check(scope, token, proof)
                except Exception as e:  # a malformed proof
                    problem = f"invalid proof: {e}"
            if problem:
                return await _refuse(send, problem)
            CHECKED["proofs"] += 1
            rest = [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"dpop")]
            scope = dict(scope, headers=rest + [(b"authorization", f"Bearer {token}".encode())])

        async def dpop_challenge(message):
            if message["type"] == "http.response.start" and message["status"] == 401:
                message = dict(message)
                message["headers"] = [
                    (k, v.replace(b"Bearer", b"DPoP", 1) if k == b"www-authenticate" else v)
                    for k, v in message["headers"]
                ]
            await send(message)

        return await app(scope, receive, dpop_challenge)

    return guarded


async def _refuse(send, problem):
    body = json.dumps({"error": "invalid_token", "error_description": problem}).encode()
    await send({
        "type": "http.response.start",
        "status": 401,
        "headers": [
            (b"content-type", b"application/json"),
            (b"www-authenticate", f'DPoP error="invalid_token", error_description="{problem}"'.encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
