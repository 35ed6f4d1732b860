"""The soak's server: FastMCP behind its own OAuth provider, with short-lived
access tokens and sessions that are forgotten on a schedule.

Usage: soak_server.py PORT ACCESS_TOKEN_SECONDS SESSION_SECONDS

Every SESSION_SECONDS a new epoch begins: requests naming a session issued
in an earlier epoch are answered 404 "Session not found", as a restarted
server answers (the bridge must start a new session and send the request
again); access tokens expire every ACCESS_TOKEN_SECONDS (the bridge must
refresh). Nothing else is faked: FastMCP does the MCP and the OAuth.
"""

import json
import sys
import time

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.auth.auth import ClientRegistrationOptions
from fastmcp.server.auth.providers import in_memory
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider

port = int(sys.argv[1])
in_memory.DEFAULT_ACCESS_TOKEN_EXPIRY_SECONDS = int(sys.argv[2])
session_seconds = float(sys.argv[3])
started = time.monotonic()

auth = InMemoryOAuthProvider(
    base_url=f"http://127.0.0.1:{port}",
    client_registration_options=ClientRegistrationOptions(enabled=True),
)
mcp = FastMCP("tether-soak", auth=auth)


@mcp.tool
def echo(message: str) -> str:
    """Echoes its message."""
    return message


def epoch():
    return int((time.monotonic() - started) // session_seconds)


def forgetful(app):
    born = {}  # session id -> epoch it was issued in

    async def handle(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = dict(scope["headers"])
        session = headers.get(b"mcp-session-id")
        if session is not None and born.get(session, epoch()) < epoch():
            body = json.dumps({"jsonrpc": "2.0", "id": None,
                               "error": {"code": -32001, "message": "Session not found"}}).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return

        async def noting(message):
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"mcp-session-id":
                        born.setdefault(value, epoch())
            await send(message)

        await app(scope, receive, noting)

    return handle


uvicorn.run(forgetful(mcp.http_app()), host="127.0.0.1", port=port, log_level="warning")
