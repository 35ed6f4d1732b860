"""A FastMCP server behind FastMCP's own OAuth provider, for the tests.

Usage: oauth_server.py PORT [http|sse] [ACCESS_TOKEN_SECONDS]

With TOKEN_BYTES=N in the environment, access and refresh tokens carry 2N
hex characters each, as large as an Entra ID token set (issue 24).

The in-memory provider registers clients dynamically and approves every
authorization request at once, so a scripted "browser" that follows the
redirects completes a real authorization-code + PKCE login.
"""

import os
import secrets
import sys

from fastmcp import FastMCP
from fastmcp.server.auth.auth import ClientRegistrationOptions, RevocationOptions
from fastmcp.server.auth.providers import in_memory
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider

port = int(sys.argv[1])
transport = sys.argv[2] if len(sys.argv) > 2 else "http"
if len(sys.argv) > 3:
    in_memory.DEFAULT_ACCESS_TOKEN_EXPIRY_SECONDS = int(sys.argv[3])

if "TOKEN_BYTES" in os.environ:
    size = int(os.environ["TOKEN_BYTES"])

    class LargeTokens:
        """`secrets` as the provider sees it, with long tokens."""

        @staticmethod
        def token_hex(n=32):
            return secrets.token_hex(size if n == 32 else n)

    in_memory.secrets = LargeTokens

auth = InMemoryOAuthProvider(
    base_url=f"http://127.0.0.1:{port}",
    client_registration_options=ClientRegistrationOptions(enabled=True),
    revocation_options=RevocationOptions(enabled=True),
)
mcp = FastMCP("tether-oauth-test", auth=auth)


@mcp.tool
def echo(message: str) -> str:
    """Echoes its message."""
    return message


mcp.run(transport=transport, host="127.0.0.1", port=port, show_banner=False)
