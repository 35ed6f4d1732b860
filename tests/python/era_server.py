"""An MCP server built with the official Python SDK (mcp 2.3), for the
protocol-era tests (issue 8, spec-checklist E1–E8).

Usage: era_server.py PORT dual|modern|legacy

The SDK serves both eras on one endpoint: a request whose
`MCP-Protocol-Version` names 2026-07-28 takes the stateless per-request
path (`_meta` envelope, `server/discover`, Multi Round-Trip Requests,
`subscriptions/listen`, `Mcp-*` header validation); anything else takes the
`initialize` handshake and a session. That is a dual-era server.

- `dual`: the SDK as it comes.
- `modern`: a 2026-07-28-only server. Requests that do not state a modern
  version are refused the way the spec says a server refuses a version it
  does not implement: HTTP 400 with an UnsupportedProtocolVersionError
  (-32022) naming the versions it does support.
- `legacy`: a handshake-only server. Requests stating a modern version are
  refused with HTTP 400 and a plain JSON-RPC error, as servers that predate
  2026-07-28 answer a request without a session.

Every tool behaves the same in every era; `book_room` needs the user to
confirm (elicitation: a server-to-client request for legacy clients, an
`input_required` result for modern ones), `where_am_i` declares an
`x-mcp-header` parameter (the SDK checks the `Mcp-Param-Region` header
against the argument), `count_roots` asks for the client's roots
(`roots/list`), `touch_note` changes the resource `memo://note`.
"""

import asyncio
import json
import sys
from typing import Annotated

import uvicorn
from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import EmptyResult, ListRootsResult, SubscribeRequestParams, UnsubscribeRequestParams
from mcp.server.mcpserver.resolve import Elicit, ListRoots, Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent

port = int(sys.argv[1])
mode = sys.argv[2]
MODERN = "2026-07-28"

mcp = MCPServer("era-test", instructions="A server for the protocol-era tests.")
note = {"text": "first"}


@mcp.tool()
def add(a: int, b: int) -> str:
    """Adds two integers."""
    return f"{a + b}"


@mcp.tool()
def where_am_i(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
) -> str:
    """Says which region the call was routed to."""
    return f"routed to {region}"


class Confirmation(BaseModel):
    confirmed: bool


def ask_to_confirm(room: str) -> Elicit[Confirmation]:
    return Elicit(f"Book {room}?", Confirmation)


@mcp.tool()
def book_room(
    room: str,
    answer: Annotated[Confirmation, Resolve(ask_to_confirm)],
) -> str:
    """Books a room once the user confirms."""
    return f"booked {room}" if answer.confirmed else f"not booked {room}"


def ask_for_roots() -> ListRoots:
    return ListRoots()


@mcp.tool()
def count_roots(
    roots: Annotated[ListRootsResult, Resolve(ask_for_roots)],
) -> str:
    """Says how many roots the client shares (roots/list)."""
    return f"{len(roots.roots)} roots: " + ", ".join(str(r.uri) for r in roots.roots)


def ask_the_model(question: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=question))], max_tokens=50)


@mcp.tool()
def ask_model(
    question: str,
    reply: Annotated[CreateMessageResult, Resolve(ask_the_model)],
) -> str:
    """Asks the client's model (sampling/createMessage)."""
    return f"the model said: {reply.content.text}"


@mcp.tool()
async def count_slowly(steps: int, ctx: Context) -> str:
    """Counts to `steps`, reporting progress at each step."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
        # Apart in time, as real work is: hosts drop progress that arrives
        # in one read with the answer (the TypeScript SDK handles
        # notifications a tick later than answers).
        await asyncio.sleep(0.2)
    return f"counted to {steps}"


@mcp.resource("memo://note")
def read_note() -> str:
    """A note that `touch_note` changes."""
    return note["text"]


# Sessions (legacy clients) subscribed with resources/subscribe.
legacy_subscribers = []


@mcp.tool()
async def touch_note(text: str, ctx: Context) -> str:
    """Changes memo://note and tells subscribers."""
    note["text"] = text
    # 2026-07-28 clients: their subscriptions/listen streams.
    await ctx.notify_resource_updated("memo://note")
    # Earlier clients: the sessions that sent resources/subscribe.
    for session in list(legacy_subscribers):
        await session.send_resource_updated("memo://note")
    return "noted"


async def subscribe(ctx, params):
    legacy_subscribers.append(ctx.session)
    return EmptyResult()


async def unsubscribe(ctx, params):
    if ctx.session in legacy_subscribers:
        legacy_subscribers.remove(ctx.session)
    return EmptyResult()


mcp._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
mcp._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


def refuse(status, body):
    async def respond(send):
        payload = json.dumps(body).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        })
        await send({"type": "http.response.body", "body": payload})
    return respond


def one_era(app, modern_only):
    """Lets only one era through to the SDK's dual-era app."""

    async def gate(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = dict(scope["headers"])
        version = headers.get(b"mcp-protocol-version", b"").decode()
        is_modern = version == MODERN
        if modern_only and not is_modern and scope["method"] != "DELETE":
            body = await read_all(receive)
            request_id = id_of(body)
            return await refuse(400, {
                "jsonrpc": "2.0", "id": request_id,
                "error": {"code": -32022, "message": "Unsupported protocol version",
                          "data": {"supported": [MODERN], "requested": version or "2025-11-25"}},
            })(send)
        if not modern_only and is_modern:
            body = await read_all(receive)
            return await refuse(400, {
                "jsonrpc": "2.0", "id": None,
                "error": {"code": -32000, "message": "Bad Request: No valid session ID provided"},
            })(send)
        return await app(scope, receive, send)

    return gate


async def read_all(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def id_of(body):
    try:
        return json.loads(body).get("id")
    except Exception:
        return None


app = mcp.streamable_http_app()
if mode == "modern":
    app = one_era(app, modern_only=True)
elif mode == "legacy":
    app = one_era(app, modern_only=False)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
