// The official MCP TypeScript SDK client calls every tool against data from the simulated
// cluster's scenarios: `kobs serve --sim` plays a bare crash-looping pod, a Krateo composition
// whose Deployment crash-loops, a memory hog and the steady shop workload, and collects their
// events, pod logs and metrics; an agent's traces arrive through the OpenTelemetry SDK's OTLP
// exporter (the simulator runs no traced services). Each tool must answer with the rows those
// scenarios produce.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { startKobs } from './kobs_server.mjs';

let kobs;
let client;
let compositionId;

function freePort() {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function structured(result) {
  assert.equal(result.isError, false, JSON.stringify(result));
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
  return result.structuredContent;
}

async function select(query) {
  return structured(await client.callTool({ name: 'run_select_query', arguments: { query } })).rows;
}

// Polls until `query`'s first row's `n` is positive (or 90 s pass).
async function until(query) {
  const deadline = Date.now() + 90000;
  for (;;) {
    const rows = await select(query);
    if (Number(rows[0]?.n ?? 0) > 0) return;
    if (Date.now() > deadline) assert.fail(`no rows after 90 s: ${query}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

before(async () => {
  const port = await freePort();
  kobs = await startKobs(
    { KOBS_MCP_RATE_LIMIT: '0', KOBS_K8S_METRICS_INTERVAL: '1s' },
    ['--sim', '--sim-listen', `127.0.0.1:${port}`, '--sim-scenario', 'crashloop-pod',
      '--sim-scenario', 'composition-crashloop', '--sim-scenario', 'oom',
      '--sim-scenario', 'background']);
  client = new Client({ name: 'kobs-sim-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(kobs.mcpUrl)));

  // An agent's traces, as kagent's agents send them (service krateo-*), one of them slow.
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'krateo-autopilot' }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${kobs.otlpHttpUrl}/v1/traces` }))],
  });
  const tracer = provider.getTracer('kobs-sim-test');
  const root = tracer.startSpan('diagnose demo-crashloop', { kind: SpanKind.INTERNAL });
  const tool = tracer.startSpan('tools/call get_pod_errors', { kind: SpanKind.CLIENT },
    trace.setSpan(context.active(), root));
  await new Promise((r) => setTimeout(r, 30));
  tool.end();
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'escalated' });
  root.end();
  await provider.forceFlush();
  await provider.shutdown();

  // The scenarios' data: composition events, the bare pod's FATAL lines, memory against limits.
  await until("SELECT count() AS n FROM kobs_k8s_events WHERE CompositionId != '' AND Reason = 'BackOff'");
  await until("SELECT count() AS n FROM otel_logs WHERE ResourceAttributes['k8s.pod.name'] = 'demo-crashloop' AND SeverityText = 'FATAL'");
  await until("SELECT count() AS n FROM kobs_k8s_events WHERE ObjectName = 'demo-crashloop' AND Type = 'Warning'");
  await until("SELECT count() AS n FROM otel_metrics_gauge WHERE MetricName = 'k8s.container.memory_limit_utilization' AND ResourceAttributes['k8s.pod.name'] = 'demo-crashloop'");
  await until("SELECT count() AS n FROM otel_traces WHERE ServiceName = 'krateo-autopilot'");
  await until("SELECT count() AS n FROM otel_metrics_gauge WHERE MetricName = 'k8s.container.restarts' AND ResourceAttributes['k8s.pod.name'] = 'demo-crashloop' AND Value >= 1");
  await until("SELECT count() AS n FROM otel_metrics_gauge WHERE MetricName = 'k8s.container.memory_limit' AND ResourceAttributes['k8s.pod.name'] = 'demo-crashloop'");
  compositionId = (await select(
    "SELECT any(CompositionId) AS id FROM kobs_k8s_events WHERE CompositionId != ''"))[0].id;
  assert.match(compositionId, /^[0-9a-f-]{36}$/);
});

after(async () => {
  await client?.close();
  const { code } = await kobs.stop();
  assert.equal(code, 0, 'kobs exits 0 on SIGTERM');
});

test('raw SQL tools see the collected tables', async () => {
  const tables = structured(await client.callTool({
    name: 'list_tables', arguments: { database: 'default', like: 'kobs_k8s%' },
  }));
  assert.match(JSON.stringify(tables), /kobs_k8s_events/);
  const d = structured(await client.callTool({ name: 'describe_table', arguments: { table: 'kobs_k8s_events' } }));
  assert.match(JSON.stringify(d), /CompositionId/);
  assert.ok(structured(await client.callTool({ name: 'list_databases', arguments: {} })));
});

test('get_pod_errors: the bare pod\'s FATAL lines', async () => {
  const r = structured(await client.callTool({
    name: 'get_pod_errors', arguments: { namespace: 'default', pod_name: 'demo-crashloop' },
  }));
  assert.match(JSON.stringify(r), /FATAL: unhandled exception in main loop/);
});

test('get_pod_timeline: its events and its errors, interleaved', async () => {
  const text = JSON.stringify(structured(await client.callTool({
    name: 'get_pod_timeline', arguments: { namespace: 'default', pod_name: 'demo-crashloop' },
  })));
  assert.match(text, /BackOff/);
  assert.match(text, /FATAL/);
});

test('get_composition_events: the composition\'s pods, through their owners', async () => {
  const text = JSON.stringify(structured(await client.callTool({
    name: 'get_composition_events', arguments: { composition_id: compositionId },
  })));
  assert.match(text, /fireworks-demo-app/);
  assert.match(text, /BackOff/);
});

test('get_warning_summary: the crash loops lead', async () => {
  const text = JSON.stringify(structured(await client.callTool({ name: 'get_warning_summary', arguments: {} })));
  assert.match(text, /demo-crashloop/);
  assert.match(text, /fireworks-demo-app/);
  const shop = JSON.stringify(structured(await client.callTool({
    name: 'get_warning_summary', arguments: { namespace: 'demo-system' },
  })));
  assert.doesNotMatch(shop, /demo-crashloop/);
});

test('check_pod_health: warnings, errors, restarts and memory against its limit', async () => {
  const health = structured(await client.callTool({
    name: 'check_pod_health', arguments: { namespace: 'default', pod_name: 'demo-crashloop' },
  }));
  assert.match(JSON.stringify(health.warning_events), /BackOff/);
  assert.ok(health.error_logs > 0, JSON.stringify(health));
  const [c] = health.containers;
  assert.ok(c.restart_count >= 1, JSON.stringify(c));
  assert.equal(c.memory_limit_bytes, 16 * 1024 * 1024);  // the demo's 16Mi limit
  assert.ok('memory_used_of_limit' in c, JSON.stringify(c));
  assert.equal(c.cpu_limit_cores, 0.01);
});

test('search_logs: text over the pods\' logs', async () => {
  const text = JSON.stringify(structured(await client.callTool({
    name: 'search_logs', arguments: { text: 'unhandled exception', min_severity: 'ERROR' },
  })));
  assert.match(text, /demo-crashloop/);
});

test('get_composition_health: the composition\'s workloads in one answer', async () => {
  const text = JSON.stringify(structured(await client.callTool({
    name: 'get_composition_health', arguments: { composition_id: compositionId },
  })));
  assert.match(text, /fireworks-demo-app/);
});

test('get_agent_traces and get_slow_traces: the agent\'s spans', async () => {
  const agent = JSON.stringify(structured(await client.callTool({ name: 'get_agent_traces', arguments: {} })));
  assert.match(agent, /diagnose demo-crashloop/);
  const slow = JSON.stringify(structured(await client.callTool({
    name: 'get_slow_traces', arguments: { min_duration_ms: 20 },
  })));
  assert.match(slow, /tools\/call get_pod_errors|diagnose demo-crashloop/);
});

test('the legacy SSE transport and stdio see the same data', async () => {
  const legacy = new Client({ name: 'kobs-sim-sse', version: '1.0.0' });
  await legacy.connect(new SSEClientTransport(new URL(kobs.mcpUrl.replace('/mcp', '/sse'))));
  const viaSse = JSON.stringify(structured(await legacy.callTool({
    name: 'get_pod_errors', arguments: { namespace: 'default', pod_name: 'demo-crashloop' },
  })));
  assert.match(viaSse, /FATAL/);
  await legacy.close();
  const stdio = new Client({ name: 'kobs-sim-stdio', version: '1.0.0' });
  await stdio.connect(new StdioClientTransport({
    command: process.env.KOBS_BIN,
    args: ['mcp', '--url', kobs.clickhouseUrl],
    env: { ...process.env, KOBS_LOG_LEVEL: 'warn' },
    stderr: 'pipe',
  }));
  const viaStdio = JSON.stringify(structured(await stdio.callTool({
    name: 'get_composition_events', arguments: { composition_id: compositionId },
  })));
  assert.match(viaStdio, /fireworks-demo-app/);
  await stdio.close();
});
