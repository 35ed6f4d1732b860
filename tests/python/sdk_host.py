"""A real desktop host: the official Python SDK's `Client` (mcp 2.3) launching
mcp-tether over stdio, as a host's configuration would (issue 19).

Usage: sdk_host.py MODE BRIDGE [BRIDGE ARGS...]

MODE is the SDK's own: `auto` (its default: it asks `server/discover` first
and speaks 2026-07-28 when the answer is a valid DiscoverResult, else falls
back to `initialize`) or `legacy` (`ClientSession.initialize()`).

The session: connect, list tools, call a plain tool, a tool that reports
progress, one that asks the host's model (sampling) and one that asks the
user (elicitation), list resources and read one. Every answer is validated
by the SDK's own models on the way in, so a result that is not valid in the
negotiated revision fails here. Prints one JSON report on stdout.
"""

import asyncio
import json
import sys

from mcp import Client, StdioServerParameters, types

mode, bridge, *bridge_args = sys.argv[1:]

# Which tools play each part, by server: server-everything, then the
# Python SDK's era server (tests/python/era_server.py).
PLAIN = [("echo", {"message": "hi"}), ("add", {"a": 2, "b": 3})]
PROGRESS = [("trigger-long-running-operation", {"duration": 1, "steps": 2}), ("count_slowly", {"steps": 2})]
SAMPLING = [("trigger-sampling-request", {"prompt": "hi", "maxTokens": 20}), ("ask_model", {"question": "hi"})]
ELICITATION = [("trigger-elicitation-request", {}), ("book_room", {"room": "A"})]

asked = {"sampling": 0, "elicitation": 0}


async def sampling(context, params):
    asked["sampling"] += 1
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="sampled by the host"),
        model="host-model",
        stop_reason="endTurn",
    )


def filled(schema):
    """An answer to an elicitation form: each property of the requested
    schema, filled with a value of its type."""
    content = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type")
        if prop.get("enum"):
            content[name] = prop["enum"][0]
        elif kind == "boolean":
            content[name] = True
        elif kind in ("number", "integer"):
            content[name] = prop.get("minimum", 1)
        else:
            content[name] = prop.get("default", "host@example.com" if prop.get("format") == "email" else "x")
    return content


async def elicitation(context, params):
    asked["elicitation"] += 1
    schema = params.requested_schema if hasattr(params, "requested_schema") else {}
    if hasattr(schema, "model_dump"):
        schema = schema.model_dump(by_alias=True, exclude_none=True)
    return types.ElicitResult(action="accept", content=filled(schema or {}))


def text_of(result):
    return " ".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def pick(names, choices):
    return next(((n, a) for n, a in choices if n in names), (None, None))


async def main():
    server = StdioServerParameters(command=bridge, args=bridge_args)
    report = {"mode": mode}
    async with Client(
        server,
        mode=mode,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
        read_timeout_seconds=60,
    ) as client:
        report["protocolVersion"] = client.protocol_version
        report["serverName"] = client.server_info.name if client.server_info else None
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        report["tools"] = len(names)

        name, args = pick(names, PLAIN)
        report["plain"] = text_of(await client.call_tool(name, args))

        progress = []

        async def on_progress(value, total, message):
            progress.append(value)

        name, args = pick(names, PROGRESS)
        await client.call_tool(name, args, progress_callback=on_progress)
        report["progress"] = len(progress)

        name, args = pick(names, SAMPLING)
        report["sampled"] = text_of(await client.call_tool(name, args))
        name, args = pick(names, ELICITATION)
        report["elicited"] = text_of(await client.call_tool(name, args)) if name else None
        report.update(asked)

        resources = await client.list_resources()
        first = resources.resources[0]
        read = await client.read_resource(first.uri)
        report["resource"] = str(first.uri)
        report["read"] = len(read.contents)
    print(json.dumps(report))


asyncio.run(main())
