"""A FastMCP server that trusts an outside authorization server, for the tests.

Usage: resource_server.py PORT AUTHORIZATION_SERVER_URL [dpop]

A resource server only: it publishes RFC 9728 protected resource metadata
naming the authorization server (tests/node/oidc_server.mjs), and accepts
the JWT access tokens that server issues for it (signature from its JWKS,
issuer, audience = this server's /mcp URL, scope `mcp:tools`). With `dpop`, only DPoP-bound tokens with valid proofs
(tests/python/dpop_gate.py).
"""

import sys

from fastmcp import FastMCP
from fastmcp.server.auth import RemoteAuthProvider
from fastmcp.server.auth.providers.jwt import JWTVerifier

port = int(sys.argv[1])
issuer = sys.argv[2].rstrip("/")
base_url = f"http://127.0.0.1:{port}"

verifier = JWTVerifier(
    jwks_uri=f"{issuer}/jwks",
    issuer=issuer,
    audience=f"{base_url}/mcp",
    required_scopes=["mcp:tools"],
)
auth = RemoteAuthProvider(
    token_verifier=verifier,
    authorization_servers=[issuer],
    base_url=base_url,
)
mcp = FastMCP("tether-resource-test", auth=auth)


@mcp.tool
def echo(message: str) -> str:
    """Echoes its message."""
    return message


if len(sys.argv) > 3 and sys.argv[3] == "dpop":
    import uvicorn

    from dpop_gate import gate

    uvicorn.run(gate(mcp.http_app()), host="127.0.0.1", port=port, log_level="warning")
else:
    mcp.run(transport="http", host="127.0.0.1", port=port, show_banner=False)
