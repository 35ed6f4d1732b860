"""A FastMCP server behind a static bearer-token check, like an API gateway
with short-lived tokens: for `--header-command` tests.

Usage: token_server.py PORT FIRST_TOKEN_SECONDS

Accepts `token-1` for FIRST_TOKEN_SECONDS after start, and `token-2` …
`token-9` for an hour. No OAuth metadata: a 401 here is not an OAuth
challenge.
"""

import sys
import time

from fastmcp import FastMCP
from fastmcp.server.auth.providers.jwt import StaticTokenVerifier

port = int(sys.argv[1])
first_token_seconds = float(sys.argv[2])
now = int(time.time())
tokens = {"token-1": {"client_id": "gateway", "scopes": [], "expires_at": now + int(first_token_seconds)}}
for n in range(2, 10):
    tokens[f"token-{n}"] = {"client_id": "gateway", "scopes": [], "expires_at": now + 3600}

mcp = FastMCP("tether-token-test", auth=StaticTokenVerifier(tokens=tokens))


@mcp.tool
def echo(message: str) -> str:
    """Echoes its message."""
    return message


mcp.run(transport="http", host="127.0.0.1", port=port, show_banner=False)
