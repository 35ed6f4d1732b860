"""Starts the Python test servers as forks of one process that has already
imported what they import.

Each server (oauth_server.py, era_server.py, …) is still a process of its
own, killed as before; only its imports, about one second of CPU each
(pydantic builds the MCP types' models at import), are paid once per test
run instead of once per server. The integration tests start about seventy
servers (TESTING.md, "Wall time").

The test process (tests/it/common/peers.rs) writes one JSON request per line
on stdin:

    {"start": ID, "script": PATH, "args": [...], "env": {...}}
    {"kill": ID}

and reads one JSON line per server that ends on stdout:

    {"exited": ID, "status": N}

The server runs with stdin, stdout and stderr on /dev/null, the given
environment added. When stdin ends (the test process is gone), every server
still running is killed, and this process exits.
"""

import json
import os
import runpy
import selectors
import signal
import sys
import traceback

# What the servers import, imported once here and shared by every fork:
# their own imports, and what FastMCP and uvicorn import only when a server
# starts (found by comparing sys.modules in a fork before and after).
PRELOAD = [
    "cryptography.x509",
    "fastmcp",
    "fastmcp.server.auth",
    "fastmcp.server.auth.auth",
    "fastmcp.server.auth.middleware",
    "fastmcp.server.auth.providers.in_memory",
    "fastmcp.server.auth.providers.jwt",
    "fastmcp.server.http",
    "fastmcp.server.server",
    "fastmcp.tools.function_tool",
    "griffe",
    "jwt",
    "mcp.server.mcpserver",
    "mcp.server.mcpserver.resolve",
    "mcp_types",
    "pydantic",
    "rich.table",
    "uvicorn",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "anyio._backends._asyncio",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "yaml",
]


def preload():
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


def run_server(script, args, env, wakeup):
    """In the fork: become the server, and never return to the loop."""
    status = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wakeup:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        if sys.platform == "linux":
            # Dies with this process too, whatever kills it.
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.environ.update(env)
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(script)
        runpy.run_path(script, run_name="__main__")
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def main():
    preload()
    # SIGCHLD wakes the loop through this pipe; the loop reaps and reports.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    running = {}  # pid -> id
    by_id = {}  # id -> pid
    out = sys.stdout

    def report(message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    def reap():
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            id = running.pop(pid, None)
            if id is not None:
                by_id.pop(id, None)
                report({"exited": id, "status": os.waitstatus_to_exitcode(status)})

    def handle(request):
        if "start" in request:
            out.flush()
            pid = os.fork()
            if pid == 0:
                run_server(request["script"], request["args"], request["env"], (wake_read, wake_write))
            running[pid] = request["start"]
            by_id[request["start"]] = pid
        elif "kill" in request:
            pid = by_id.get(request["kill"])
            if pid is not None:
                os.kill(pid, signal.SIGKILL)

    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    pending = b""
    stdin = sys.stdin.fileno()
    while True:
        for key, _ in selector.select():
            if key.fileobj == wake_read:
                try:
                    os.read(wake_read, 4096)
                except BlockingIOError:
                    pass
                reap()
                continue
            chunk = os.read(stdin, 65536)
            if not chunk:
                for pid in list(running):
                    os.kill(pid, signal.SIGKILL)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    handle(json.loads(line))
        reap()


if __name__ == "__main__":
    main()
