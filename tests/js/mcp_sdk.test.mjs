// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk) against `kobs serve`'s
// Streamable HTTP endpoint: initialize, tools/list, every raw-SQL tool, bounded results,
// refusals as isError results, session termination; plus the transport's HTTP-level checks
// (protocol version header, Origin, sessions, GET) with plain fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { createClient } from '@clickhouse/client';
import { startKobs } from './kobs_server.mjs';

let kobs;
let client;
let transport;

before(async () => {
  // The test makes its calls back to back from one address: lift the per-client rate limit
  // (tests/mcp/server_test.cc checks it).
  kobs = await startKobs({ KOBS_MCP_RATE_LIMIT: '0' });
  const ch = createClient({ url: kobs.clickhouseUrl, username: 'default', password: '' });
  await ch.command({ query: 'CREATE TABLE default.pods (name String, restarts UInt32) ENGINE = MergeTree ORDER BY name COMMENT \'test pods\'' });
  await ch.insert({
    table: 'default.pods',
    values: Array.from({ length: 1500 }, (_, i) => ({ name: `pod-${String(i).padStart(4, '0')}`, restarts: i % 7 })),
    format: 'JSONEachRow',
  });
  await ch.close();
  client = new Client({ name: 'kobs-test', version: '1.0.0' });
  transport = new StreamableHTTPClientTransport(new URL(kobs.mcpUrl));
  await client.connect(transport);
});

after(async () => {
  await client?.close();
  const { code } = await kobs.stop();
  assert.equal(code, 0, 'kobs exits 0 on SIGTERM');
});

function structured(result) {
  assert.equal(result.isError, false, JSON.stringify(result));
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
  return result.structuredContent;
}

test('initialize negotiates a version and names the server', async () => {
  assert.equal(client.getServerVersion().name, 'kobs');
  assert.ok(client.getServerCapabilities().tools);
  assert.ok(transport.sessionId, 'a session id was issued');
  await client.ping();
});

test('tools/list: schemas and read-only annotations', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of ['list_databases', 'list_tables', 'describe_table', 'run_select_query',
    'get_pod_errors', 'get_pod_timeline', 'get_composition_events', 'get_warning_summary',
    'get_agent_traces', 'check_pod_health', 'search_logs', 'get_slow_traces',
    'get_composition_health']) {
    assert.ok(names.includes(n), n);
  }
  for (const t of tools) {
    assert.equal(t.inputSchema.type, 'object', t.name);
    assert.equal(t.annotations.readOnlyHint, true, t.name);
    assert.ok(t.description.length > 10, t.name);
  }
});

test('list_databases, list_tables, describe_table', async () => {
  const dbs = structured(await client.callTool({ name: 'list_databases', arguments: {} }));
  assert.ok(dbs.databases.some((d) => d.name === 'default'), JSON.stringify(dbs));
  const page = structured(await client.callTool({
    name: 'list_tables', arguments: { database: 'default', like: 'otel_metrics_%', page_size: 2 },
  }));
  assert.equal(page.total_tables, 5);
  assert.equal(page.tables.length, 2);
  assert.equal(page.next_page_token, '2');
  assert.ok(page.tables[0].columns.some((c) => c.name === 'MetricName' && c.type === 'LowCardinality(String)'), JSON.stringify(page.tables[0]).slice(0, 600));
  const pods = structured(await client.callTool({ name: 'describe_table', arguments: { table: 'pods' } }));
  assert.equal(pods.comment, 'test pods');
  assert.equal(pods.sorting_key, 'name');
  assert.deepEqual(pods.columns.map((c) => [c.name, c.type]), [['name', 'String'], ['restarts', 'UInt32']]);
});

test('run_select_query returns rows, and says how many it left out', async () => {
  const small = structured(await client.callTool({
    name: 'run_select_query',
    arguments: { query: 'SELECT restarts, count() AS n FROM pods GROUP BY restarts ORDER BY restarts LIMIT 2' },
  }));
  assert.deepEqual(small.rows, [{ restarts: 0, n: 215 }, { restarts: 1, n: 215 }]);
  assert.equal(small.truncated, false);
  const big = structured(await client.callTool({
    name: 'run_select_query', arguments: { query: 'SELECT name FROM pods ORDER BY name' },
  }));
  assert.equal(big.row_count, 1000);
  assert.equal(big.truncated, true);
  assert.equal(big.more_rows, 500);
  assert.match(big.message, /truncated: 500 more rows/);
});

test('refusals are tool errors with a reason, and nothing is written', async () => {
  for (const [query, reason] of [
    ['DROP TABLE pods', /read-only statements/],
    ['SELECT 1; DROP TABLE pods', /one statement/],
    ['SELECT * FROM pods SETTINGS readonly = 0', /SETTINGS/],
    ["SELECT * FROM url('http://127.0.0.1:1/', CSV)", /`url`/],
    ["SELECT * FROM pods INTO OUTFILE '/tmp/pods'", /INTO OUTFILE/],
    ['INSERT INTO pods VALUES (\'x\', 1)', /read-only statements/],
  ]) {
    const r = await client.callTool({ name: 'run_select_query', arguments: { query } });
    assert.equal(r.isError, true, query);
    assert.match(r.content[0].text, reason, query);
  }
  const missing = await client.callTool({ name: 'describe_table', arguments: {} });
  assert.equal(missing.isError, true);
  assert.match(missing.content[0].text, /`table` is required/);
  const count = structured(await client.callTool({
    name: 'run_select_query', arguments: { query: 'SELECT count() AS n FROM pods' },
  }));
  assert.equal(count.rows[0].n, 1500);
});

test('every diagnostic tool answers through the SDK', async () => {
  // The rows themselves are checked in tests/mcp/diagnostic_tools_test.cc, and against the
  // simulated cluster's data in mcp_sim.test.mjs; here each tool runs on an empty store.
  const calls = {
    get_pod_errors: { pod_name: 'api-' },
    get_pod_timeline: { namespace: 'shop', pod_name: 'api-' },
    get_composition_events: { composition_id: 'c-1' },
    get_warning_summary: {},
    get_agent_traces: {},
    check_pod_health: { pod_name: 'api-' },
    search_logs: { text: 'error', min_severity: 'WARN' },
    get_slow_traces: { min_duration_ms: 5 },
    get_composition_health: { composition_id: 'c-1' },
  };
  for (const [name, args] of Object.entries(calls)) {
    const r = structured(await client.callTool({ name, arguments: args }));
    assert.ok(typeof r === 'object', name);
  }
  const missing = await client.callTool({ name: 'get_pod_errors', arguments: { pod_name: '' } });
  assert.equal(missing.isError, true);
  assert.match(missing.content[0].text, /must not be empty/);
});

test('legacy HTTP+SSE transport at /sse (kagent protocol: SSE)', async () => {
  const legacy = new Client({ name: 'kobs-sse', version: '1.0.0' });
  await legacy.connect(new SSEClientTransport(new URL(kobs.mcpUrl.replace('/mcp', '/sse'))));
  assert.equal(legacy.getServerVersion().name, 'kobs');
  const { tools } = await legacy.listTools();
  assert.equal(tools.length, 13);
  const r = structured(await legacy.callTool({
    name: 'run_select_query', arguments: { query: 'SELECT max(restarts) AS m FROM pods' },
  }));
  assert.equal(r.rows[0].m, 6);
  await legacy.close();
  const bad = await fetch(kobs.mcpUrl.replace('/mcp', '/messages?sessionId=nope'), {
    method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' },
  });
  assert.equal(bad.status, 404);
});

test('stdio: `kobs mcp` over the running server', async () => {
  const stdio = new Client({ name: 'kobs-stdio', version: '1.0.0' });
  await stdio.connect(new StdioClientTransport({
    command: process.env.KOBS_BIN,
    args: ['mcp', '--url', kobs.clickhouseUrl],
    env: { ...process.env, KOBS_LOG_LEVEL: 'warn' },
    stderr: 'pipe',
  }));
  assert.equal(stdio.getServerVersion().name, 'kobs');
  const { tools } = await stdio.listTools();
  assert.equal(tools.length, 13);
  const r = structured(await stdio.callTool({
    name: 'run_select_query', arguments: { query: 'SELECT count() AS n FROM pods' },
  }));
  assert.equal(r.rows[0].n, 1500);
  await stdio.close();
});

test('transport checks: protocol version, origin, session, GET', async () => {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  let r = await fetch(kobs.mcpUrl, {
    method: 'POST', body: ping,
    headers: { ...headers, 'Mcp-Session-Id': transport.sessionId, 'MCP-Protocol-Version': '1999-01-01' },
  });
  assert.equal(r.status, 400);
  r = await fetch(kobs.mcpUrl, {
    method: 'POST', body: ping,
    headers: { ...headers, 'Mcp-Session-Id': transport.sessionId, Origin: 'https://evil.example' },
  });
  assert.equal(r.status, 403);
  r = await fetch(kobs.mcpUrl, { method: 'POST', body: ping, headers });
  assert.equal(r.status, 400, 'no session id');
  r = await fetch(kobs.mcpUrl, { method: 'POST', body: ping, headers: { ...headers, 'Mcp-Session-Id': 'nope' } });
  assert.equal(r.status, 404);
  r = await fetch(kobs.mcpUrl, { method: 'POST', body: '{"jsonrpc":', headers: { ...headers, 'Mcp-Session-Id': transport.sessionId } });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, -32700);
  r = await fetch(kobs.mcpUrl, { method: 'GET', headers: { Accept: 'text/event-stream' } });
  assert.equal(r.status, 405);
  r = await fetch(kobs.mcpUrl.replace('/mcp', '/health'));
  assert.equal(await r.text(), 'ok\n');

  // A second client ends its session with DELETE; the session id is then unknown.
  const other = new Client({ name: 'kobs-test-2', version: '1.0.0' });
  const t2 = new StreamableHTTPClientTransport(new URL(kobs.mcpUrl));
  await other.connect(t2);
  const sid = t2.sessionId;
  await t2.terminateSession();
  r = await fetch(kobs.mcpUrl, { method: 'POST', body: ping, headers: { ...headers, 'Mcp-Session-Id': sid } });
  assert.equal(r.status, 404);
  await other.close();
});
