"""Per-call latency through a release bridge, unwatched and watched (issue 18)."""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CALLS = int(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mcp-tether")
EVERYTHING = os.path.join(ROOT, "tests/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(url, config, watch_args):
    env = dict(os.environ, MCP_TETHER_CONFIG_DIR=config)
    bridge = subprocess.Popen([BIN, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    def call(msg):
        bridge.stdin.write((json.dumps(msg) + "\n").encode())
        bridge.stdin.flush()
        return bridge.stdout.readline()

    call({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    bridge.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    bridge.stdin.flush()
    watcher = None
    if watch_args is not None:
        sock = os.path.join(config, "run", f"{bridge.pid}.sock")
        while not os.path.exists(sock):
            time.sleep(0.05)
        watcher = subprocess.Popen([BIN, "watch", str(bridge.pid), *watch_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(0.5)
    for n in range(100):  # warm-up
        call({"jsonrpc": "2.0", "id": f"w{n}", "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "warm"}}})
    latencies = []
    for n in range(CALLS):
        started = time.perf_counter()
        call({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": f"call {n}"}}})
        latencies.append((time.perf_counter() - started) * 1000)
    rss = 0
    with open(f"/proc/{bridge.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    bridge.stdin.close()
    bridge.wait(timeout=10)
    if watcher:
        watcher.kill()
        watcher.wait()
    latencies.sort()
    return {
        "median_ms": round(statistics.median(latencies), 3),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 3),
        "peak_rss_mib": round(rss, 1),
    }


def main():
    port = free_port()
    server = subprocess.Popen(["node", EVERYTHING, "streamableHttp"], env=dict(os.environ, PORT=str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mcp"
        results = {}
        # Alternate the runs, twice each, so drift in the machine hits all alike.
        for round_ in range(2):
            for name, args in [("no watcher", None), ("watcher (-v)", []), ("watcher (--bodies)", ["--bodies"])]:
                with tempfile.TemporaryDirectory() as config:
                    results.setdefault(name, []).append(run(url, config, args))
        print(f"{CALLS} sequential echo calls through one release bridge (server-everything, loopback)")
        print(f"{'':22} {'median':>10} {'p90':>10} {'peak RSS':>10}")
        summary = {}
        for name, runs in results.items():
            median = statistics.median(r["median_ms"] for r in runs)
            p90 = statistics.median(r["p90_ms"] for r in runs)
            rss = max(r["peak_rss_mib"] for r in runs)
            summary[name] = {"median_ms": median, "p90_ms": p90, "peak_rss_mib": rss, "runs": runs}
            print(f"{name:22} {median:>8.3f}ms {p90:>8.3f}ms {rss:>7.1f}MiB")
        os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench/results/watch.json"), "w") as f:
            json.dump({"calls": CALLS, "results": summary}, f, indent=2)
    finally:
        server.kill()


main()
