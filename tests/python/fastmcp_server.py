"""A plain FastMCP server (PyPI `fastmcp`, pinned), for the real-host tests
(issue 19): the tools a host session exercises, with no sign-in.

Usage: fastmcp_server.py PORT

Serves http://127.0.0.1:PORT/mcp (Streamable HTTP): `add`, `count_slowly`
(progress), `ask_model` (sampling), `book_room` (elicitation) and the
resource `memo://note`.
"""

import asyncio
import sys

from pydantic import BaseModel

from fastmcp import Context, FastMCP
from mcp_types import SamplingMessage, TextContent

mcp = FastMCP("fastmcp-host-test")


@mcp.tool
def add(a: int, b: int) -> str:
    """Adds two integers."""
    return f"{a + b}"


@mcp.tool
async def count_slowly(steps: int, ctx: Context) -> str:
    """Counts to `steps`, reporting progress at each step."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
        await asyncio.sleep(0.2)
    return f"counted to {steps}"


@mcp.tool
async def ask_model(question: str, ctx: Context) -> str:
    """Asks the client's model (sampling/createMessage)."""
    reply = await ctx.session.create_message(
        [SamplingMessage(role="user", content=TextContent(type="text", text=question))],
        max_tokens=50,
    )
    return f"the model said: {reply.content.text}"


class Confirmation(BaseModel):
    confirmed: bool


@mcp.tool
async def book_room(room: str, ctx: Context) -> str:
    """Books a room once the user confirms (elicitation/create)."""
    answer = await ctx.elicit(f"Book {room}?", Confirmation)
    confirmed = getattr(answer, "action", "") == "accept" and answer.data.confirmed
    return f"booked {room}" if confirmed else f"not booked {room}"


@mcp.resource("memo://note")
def read_note() -> str:
    """A note."""
    return "first"


mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), show_banner=False)
