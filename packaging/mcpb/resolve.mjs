// Prints the command Claude Desktop would run for an unpacked bundle and a
// user's settings, using the MCPB library's own resolution
// (getMcpConfigForManifest): the `${__dirname}` and `${user_config.*}`
// substitutions, platform overrides, required-field checks.
//
//   node packaging/mcpb/resolve.mjs UNPACKED_DIR '{"server_url":"https://…"}'
//
// Prints {"command": …, "args": […], "env": {…}} as JSON, or fails when a
// required setting is missing.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { getMcpConfigForManifest } from '@anthropic-ai/mcpb';

const [dir, settings] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath: path.resolve(dir),
  systemDirs: {},
  userConfig: JSON.parse(settings ?? '{}'),
  pathSeparator: path.sep,
});
if (!config) {
  console.error('the bundle cannot run with these settings (a required one is missing)');
  process.exit(1);
}
console.log(JSON.stringify(config));
