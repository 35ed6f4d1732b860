"""A FastMCP server behind a static bearer-token check, like an API gateway
with short-lived tokens: for `--header-command` tests.

Usage: token_server.py PORT EXPIRED_FILE

Accepts `token-1` until EXPIRED_FILE exists (the test says when the
gateway's short-lived token has expired, with no wait), and `token-2` …
`token-9` for an hour. No OAuth metadata: a 401 here is not an OAuth
challenge.
"""

import os
import sys
import time

from fastmcp import FastMCP
from fastmcp.server.auth.providers.jwt import StaticTokenVerifier

port = int(sys.argv[1])
expired = sys.argv[2]
now = int(time.time())
tokens = {f"token-{n}": {"client_id": "gateway", "scopes": [], "expires_at": now + 3600} for n in range(1, 10)}


class Gateway(StaticTokenVerifier):
    """The static tokens, with `token-1` expired once the test says so."""

    async def verify_token(self, token):
        if token == "token-1" and os.path.exists(expired):
            return None
        return await super().verify_token(token)


mcp = FastMCP("tether-token-test", auth=Gateway(tokens=tokens))


@mcp.tool
def echo(message: str) -> str:
    """Echoes its message."""
    return message


mcp.run(transport="http", host="127.0.0.1", port=port, show_banner=False)
