// A real desktop host: the official TypeScript SDK's `Client` (pinned in
// package.json) launching mcp-tether over `StdioClientTransport`, as Claude
// Desktop, Cursor and VS Code do (issue 19).
//
// Usage: node sdk_host.mjs BRIDGE [BRIDGE ARGS...]
//
// The same session as tests/python/sdk_host.py: initialize, list tools,
// call a plain tool, one with progress, one that asks the host's model
// (sampling), one that asks the user (elicitation), list resources and read
// one. The SDK validates every answer with its own schemas. Prints one JSON
// report on stdout.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CreateMessageRequestSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [bridge, ...bridgeArgs] = process.argv.slice(2);
const PLAIN = [["echo", { message: "hi" }], ["add", { a: 2, b: 3 }]];
const PROGRESS = [["trigger-long-running-operation", { duration: 1, steps: 2 }], ["count_slowly", { steps: 2 }]];
const SAMPLING = [["trigger-sampling-request", { prompt: "hi", maxTokens: 20 }], ["ask_model", { question: "hi" }]];
const ELICITATION = [["trigger-elicitation-request", {}], ["book_room", { room: "A" }]];
const asked = { sampling: 0, elicitation: 0 };

// An answer to an elicitation form: each property filled with its type.
function filled(schema) {
  const content = {};
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    if (prop.enum) content[name] = prop.enum[0];
    else if (prop.type === "boolean") content[name] = true;
    else if (prop.type === "number" || prop.type === "integer") content[name] = prop.minimum ?? 1;
    else content[name] = prop.default ?? (prop.format === "email" ? "host@example.com" : "x");
  }
  return content;
}

const client = new Client(
  { name: "ts-sdk-host", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: { form: {} } } },
);
client.setRequestHandler(CreateMessageRequestSchema, async () => {
  asked.sampling += 1;
  return { role: "assistant", content: { type: "text", text: "sampled by the host" }, model: "host-model", stopReason: "endTurn" };
});
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  asked.elicitation += 1;
  return { action: "accept", content: filled(request.params.requestedSchema) };
});

const transport = new StdioClientTransport({ command: bridge, args: bridgeArgs, stderr: "inherit" });
await client.connect(transport);
const report = {
  protocolVersion: transport.protocolVersion ?? null,
  serverName: client.getServerVersion()?.name ?? null,
};
const names = (await client.listTools()).tools.map((t) => t.name);
report.tools = names.length;
const pick = (choices) => choices.find(([name]) => names.includes(name)) ?? [];
const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join(" ");

let [name, args] = pick(PLAIN);
report.plain = text(await client.callTool({ name, arguments: args }));
let progress = 0;
[name, args] = pick(PROGRESS);
await client.callTool({ name, arguments: args }, undefined, { onprogress: () => { progress += 1; } });
report.progress = progress;
[name, args] = pick(SAMPLING);
report.sampled = text(await client.callTool({ name, arguments: args }));
[name, args] = pick(ELICITATION);
report.elicited = name ? text(await client.callTool({ name, arguments: args })) : null;
Object.assign(report, asked);
const resources = (await client.listResources()).resources;
report.resource = resources[0].uri;
report.read = (await client.readResource({ uri: resources[0].uri })).contents.length;
await client.close();
console.log(JSON.stringify(report));
