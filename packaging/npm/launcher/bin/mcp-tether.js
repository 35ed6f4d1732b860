#!/usr/bin/env node
// Runs the mcp-tether binary for this platform, installed by npm as one of
// the optional dependencies @mcp-tether/<platform>-<arch> (the pattern of
// esbuild and biome: no postinstall, no download at run time).
//
// stdin, stdout and stderr are the binary's own; signals the host sends to
// this process are passed on; the exit code is the binary's.
'use strict';

const { spawn } = require('node:child_process');
const path = require('node:path');

const platform = `${process.platform}-${process.arch}`;
const exe = process.platform === 'win32' ? 'mcp-tether.exe' : 'mcp-tether';

function binary() {
  if (process.env.MCP_TETHER_BINARY) return process.env.MCP_TETHER_BINARY;
  try {
    const manifest = require.resolve(`@mcp-tether/${platform}/package.json`);
    return path.join(path.dirname(manifest), 'bin', exe);
  } catch {
    process.stderr.write(
      `mcp-tether: no binary for ${platform} was installed. npm skips optional ` +
        `dependencies when installing with --omit=optional or --no-optional; ` +
        `reinstall without it, or install @mcp-tether/${platform} directly. ` +
        `Other ways to install: https://crates.io/crates/mcp-tether\n`,
    );
    process.exit(1);
  }
}

const child = spawn(binary(), process.argv.slice(2), { stdio: 'inherit', windowsHide: true });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (error) => {
  process.stderr.write(`mcp-tether: cannot start ${binary()}: ${error.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
