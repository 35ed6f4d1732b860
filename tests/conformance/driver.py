#!/usr/bin/env python3
"""Plays the desktop host for the official MCP client conformance suite.

The runner calls `driver.py <server-url>` with MCP_CONFORMANCE_SCENARIO and
sometimes MCP_CONFORMANCE_CONTEXT (JSON) set. This spawns mcp-tether on the
URL with the flags the scenario's context calls for, then does what a host
does: initialize, notifications/initialized, tools/list, a tools/call, and
closes stdin. The browser login is done by tests/python/fake_browser.py
(BROWSER is set by the runner script).

The suite runs its scenarios at once, each with a run of this host: the
bridge gets a home of its own (HOME and its configuration directory), so
no scenario sees another's sign-in.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("MCP_TETHER_BIN", os.path.join(ROOT, "target", "debug", "mcp-tether"))


# The Client ID Metadata Document this host is configured with; mcp-tether
# uses it only where the authorization server supports such documents.
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"


def flags(scenario, context):
    args = ["--client-metadata-url", CLIENT_METADATA_URL]
    client_id = context.get("client_id") or context.get("clientId")
    secret = context.get("client_secret") or context.get("clientSecret")
    if client_id:
        info = {"client_id": client_id}
        if secret:
            info["client_secret"] = secret
        args += ["--static-oauth-client-info", json.dumps(info, separators=(",", ":"))]
    if scenario.startswith("auth/client-credentials"):
        args.append("--client-credentials")
    pem = context.get("private_key_pem")
    if pem:
        args += ["--client-key", temp_file(pem, ".pem")]
    # Workload identity federation: the platform's token, in a file.
    if context.get("valid_jwt"):
        args += ["--workload-token-file", temp_file(context["valid_jwt"], ".jwt")]
    # Enterprise-managed authorization: the user's ID token from the IdP.
    if context.get("idp_id_token"):
        args += [
            "--idp-id-token-file", temp_file(context["idp_id_token"], ".jwt"),
            "--idp-token-endpoint", context["idp_token_endpoint"],
            "--idp-client-id", context["idp_client_id"],
        ]
    return args


def plan(tools, context):
    """The tool calls a host would make: the ones the scenario names, or
    what a model would do with the tools listed."""
    if context.get("toolCalls"):
        return [(c["name"], c.get("arguments", {})) for c in context["toolCalls"]]
    named = context.get("tool") or context.get("toolName")
    if named:
        return [(named, context.get("arguments") or {})]
    by_name = {t["name"]: t for t in tools}
    if "json_schema_echo" in by_name and "json_schema_2020_12_tool" in by_name:
        # Hand the server back the schema it advertised, as the host read it.
        return [("json_schema_echo", {"schema": by_name["json_schema_2020_12_tool"]["inputSchema"]})]
    if any(name.startswith("test_mrtr_") for name in by_name):
        return [(name, {}) for name in by_name]
    if not tools:
        return [("test-tool", {})]
    # A host calls whatever it is shown: every tool, so a tool the bridge
    # should have kept from the host (SEP-2243) would be called here.
    return [(tool["name"], sample_arguments(tool.get("inputSchema", {}))) for tool in tools]


def sample_arguments(schema):
    """Values for a schema's required properties, as a model would fill them."""
    samples = {"number": 2, "integer": 3, "boolean": True, "string": "test"}
    properties = schema.get("properties", {})
    return {
        name: samples.get(properties.get(name, {}).get("type"), "test")
        for name in schema.get("required", [])
    }


# This run's home: the bridge's HOME, its configuration directory, and the
# files its flags name.
HOME = tempfile.mkdtemp(prefix="conformance-host-")


def temp_file(text, suffix):
    f = tempfile.NamedTemporaryFile("w", suffix=suffix, dir=HOME, delete=False)
    f.write(text)
    f.close()
    return f.name


def main():
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    sys.stderr.write(f"driver: scenario={scenario} context={json.dumps(context)}\n")
    env = dict(os.environ, HOME=HOME, MCP_TETHER_CONFIG_DIR=os.path.join(HOME, "config"))
    proc = subprocess.Popen(
        [BIN, url, "--auth-timeout", "20", "-v", *flags(scenario, context)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    answers = {}
    cond = threading.Condition()

    def reader():
        for line in proc.stdout:
            msg = json.loads(line)
            sys.stderr.write(f"driver: <- {line.decode()[:300]}")
            if "method" in msg and "id" in msg:
                reply(msg)
                continue
            with cond:
                if "id" in msg:
                    answers[msg["id"]] = msg
                    cond.notify_all()

    def send(msg):
        proc.stdin.write((json.dumps(msg) + "\n").encode())
        proc.stdin.flush()

    def reply(request):
        method = request["method"]
        if method == "elicitation/create":
            # A host fills the form with the schema's defaults (SEP-1034).
            schema = request.get("params", {}).get("requestedSchema", {})
            content = {
                name: prop["default"]
                for name, prop in schema.get("properties", {}).items()
                if "default" in prop
            }
            result = {"action": "accept", "content": content}
        elif method == "roots/list":
            result = {"roots": []}
        elif method == "ping":
            result = {}
        else:
            send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "not supported"}})
            return
        send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def call(id, method, params):
        send({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        with cond:
            cond.wait_for(lambda: id in answers, timeout=60)
            return answers.get(id)

    threading.Thread(target=reader, daemon=True).start()
    init = call(1, "initialize", {
        "protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {"form": {"applyDefaults": True}}, "roots": {}},
        "clientInfo": {"name": "conformance-host", "version": "1.0.0"},
    })
    if not init or "result" not in init:
        sys.stderr.write(f"driver: initialize failed: {init}\n")
    else:
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = (call(2, "tools/list", {}) or {}).get("result", {}).get("tools", [])
        for n, (tool, arguments) in enumerate(plan(listed, context)):
            call(3 + n, "tools/call", {"name": tool, "arguments": arguments})
    proc.stdin.close()
    proc.wait(timeout=10)


try:
    main()
finally:
    shutil.rmtree(HOME, ignore_errors=True)
