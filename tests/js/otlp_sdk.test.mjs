// The official OpenTelemetry JS SDK exporters (gRPC, HTTP protobuf and HTTP JSON) against the
// OTLP receivers of a running `kobs serve`, then SQL checks of the stored rows, column by column,
// through the official ClickHouse client. An exporter's flush resolves when kobs has
// acknowledged the export (the rows are durable in its spool); they become queryable shortly
// after, so each check waits for the expected number of rows first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@clickhouse/client';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  AggregationTemporality, AggregationType, MeterProvider, PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as LogsJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter as TraceGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TraceProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as TraceJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter as MetricsGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as MetricsProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as MetricsJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { startKobs } from './kobs_server.mjs';

let kobs;
let ch;

before(async () => {
  kobs = await startKobs();
  ch = createClient({ url: kobs.clickhouseUrl, username: 'default', password: '' });
});

after(async () => {
  await ch?.close();
  const { code } = await kobs.stop();
  assert.equal(code, 0, 'kobs exits 0 on SIGTERM');
});

async function rows(query, params = {}) {
  const rs = await ch.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json();
}

// Polls `query` until it returns `n` rows (or 10 s pass), then returns what it last saw.
async function rowsWhen(n, query, params = {}) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const got = await rows(query, params);
    if (got.length >= n || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The three transports, each with its exporter classes and options. gRPC and HTTP protobuf
// compress with gzip, so both decompression paths are exercised too.
const transports = [
  {
    name: 'grpc',
    logs: () => new LogsGrpc({ url: 'http://' + kobs.otlpGrpcAddr, compression: 'gzip' }),
    traces: () => new TraceGrpc({ url: 'http://' + kobs.otlpGrpcAddr, compression: 'gzip' }),
    metrics: (t) => new MetricsGrpc({ url: 'http://' + kobs.otlpGrpcAddr, compression: 'gzip',
      temporalityPreference: t }),
  },
  {
    name: 'http-protobuf',
    logs: () => new LogsProto({ url: kobs.otlpHttpUrl + '/v1/logs', compression: 'gzip' }),
    traces: () => new TraceProto({ url: kobs.otlpHttpUrl + '/v1/traces', compression: 'gzip' }),
    metrics: (t) => new MetricsProto({ url: kobs.otlpHttpUrl + '/v1/metrics', compression: 'gzip',
      temporalityPreference: t }),
  },
  {
    name: 'http-json',
    logs: () => new LogsJson({ url: kobs.otlpHttpUrl + '/v1/logs' }),
    traces: () => new TraceJson({ url: kobs.otlpHttpUrl + '/v1/traces' }),
    metrics: (t) => new MetricsJson({ url: kobs.otlpHttpUrl + '/v1/metrics', temporalityPreference: t }),
  },
];

function resource(service) {
  return resourceFromAttributes({
    'service.name': service,
    'k8s.namespace.name': 'krateo-system',
    'k8s.pod.name': 'api-7d9f-x2x',
  });
}

// [seconds, nanoseconds] high-resolution times, so that nanosecond columns can be compared exactly.
function hr(ns) {
  return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}
const baseNs = BigInt(Date.now()) * 1000000n + 123457n;

for (const t of transports) {
  test(`logs over ${t.name}`, async () => {
    const service = `logs-${t.name}`;
    const provider = new LoggerProvider({
      resource: resource(service),
      processors: [new SimpleLogRecordProcessor({ exporter: t.logs() })],
    });
    const logger = provider.getLogger('kobs-test-scope', '1.2.3');
    const parent = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1,
    });
    logger.emit({
      timestamp: hr(baseNs),
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: 'disk almost full',
      attributes: {
        'str': 'v', 'int': 42, 'bool': true, 'double': 1.5,
        'arr': ['a', 'b'], 'map': { 'k': 'v', 'n': 7 },
      },
      context: trace.setSpan(context.active(), parent),
    });
    // No severity: inferred from the JSON body's "level" field.
    logger.emit({ timestamp: hr(baseNs + 1n), body: { level: 'error', msg: 'boom' } });
    // No severity: inferred from a leading level word.
    logger.emit({ timestamp: hr(baseNs + 2n), body: 'FATAL: out of memory' });
    await provider.forceFlush();
    await provider.shutdown();

    const got = await rowsWhen(3, `
      SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, TraceId, SpanId, TraceFlags,
             SeverityText, SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName,
             ScopeVersion, LogAttributes, mapKeys(LogAttributes) AS keys
      FROM otel_logs WHERE ServiceName = {s:String} ORDER BY Timestamp`, { s: service });
    assert.equal(got.length, 3, JSON.stringify(got));
    const [a, b, c] = got;
    assert.equal(a.ts, baseNs.toString());
    assert.equal(a.TraceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(a.SpanId, 'b7ad6b7169203331');
    assert.equal(a.TraceFlags, 1);
    assert.equal(a.SeverityText, 'WARN');
    assert.equal(a.SeverityNumber, 13);
    assert.equal(a.ServiceName, service);
    assert.equal(a.Body, 'disk almost full');
    assert.equal(a.ResourceAttributes['service.name'], service);
    assert.equal(a.ResourceAttributes['k8s.namespace.name'], 'krateo-system');
    assert.equal(a.ResourceAttributes['k8s.pod.name'], 'api-7d9f-x2x');
    assert.equal(a.ScopeName, 'kobs-test-scope');
    assert.equal(a.ScopeVersion, '1.2.3');
    assert.deepEqual(a.LogAttributes, {
      arr: '["a","b"]', bool: 'true', double: '1.5', int: '42', map: '{"k":"v","n":7}', str: 'v',
    });
    assert.deepEqual(a.keys, ['arr', 'bool', 'double', 'int', 'map', 'str'], 'keys sorted');

    assert.equal(b.ts, (baseNs + 1n).toString());
    assert.equal(b.Body, '{"level":"error","msg":"boom"}');
    assert.equal(b.SeverityText, 'ERROR');
    assert.equal(b.SeverityNumber, 17);
    assert.equal(b.TraceId, '');
    assert.equal(c.SeverityText, 'FATAL');
    assert.equal(c.SeverityNumber, 21);
  });

  test(`traces over ${t.name}`, async () => {
    const service = `traces-${t.name}`;
    const provider = new BasicTracerProvider({
      resource: resource(service),
      spanProcessors: [new SimpleSpanProcessor(t.traces())],
    });
    const tracer = provider.getTracer('kobs-test-tracer', '0.9.0');
    const root = tracer.startSpan('GET /compositions', {
      kind: SpanKind.SERVER, startTime: hr(baseNs), attributes: { 'http.method': 'GET', 'http.status': 500 },
    });
    root.addEvent('retry', { attempt: 2 }, hr(baseNs + 1000n));
    root.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failed' });
    const child = tracer.startSpan('SELECT', {
      kind: SpanKind.CLIENT, startTime: hr(baseNs + 10n),
      links: [{ context: root.spanContext(), attributes: { why: 'follows' } }],
    }, trace.setSpan(context.active(), root));
    child.end(hr(baseNs + 2010n));
    root.end(hr(baseNs + 5000000n));
    await provider.forceFlush();
    await provider.shutdown();

    const got = await rowsWhen(2, `
      SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, TraceId, SpanId, ParentSpanId, SpanName,
             SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes,
             toString(Duration) AS dur, StatusCode, StatusMessage,
             arrayMap(x -> toString(toUnixTimestamp64Nano(x)), Events.Timestamp) AS ev_ts,
             Events.Name AS ev_name, Events.Attributes AS ev_attrs,
             Links.TraceId AS link_trace, Links.SpanId AS link_span, Links.Attributes AS link_attrs
      FROM otel_traces WHERE ServiceName = {s:String} ORDER BY Timestamp`, { s: service });
    assert.equal(got.length, 2, JSON.stringify(got));
    const [r, c] = got;
    const rc = root.spanContext();
    assert.equal(r.ts, baseNs.toString());
    assert.equal(r.TraceId, rc.traceId);
    assert.equal(r.SpanId, rc.spanId);
    assert.equal(r.ParentSpanId, '');
    assert.equal(r.SpanName, 'GET /compositions');
    assert.equal(r.SpanKind, 'SPAN_KIND_SERVER');
    assert.equal(r.ScopeName, 'kobs-test-tracer');
    assert.equal(r.ScopeVersion, '0.9.0');
    assert.equal(r.ResourceAttributes['k8s.namespace.name'], 'krateo-system');
    assert.deepEqual(r.SpanAttributes, { 'http.method': 'GET', 'http.status': '500' });
    assert.equal(r.dur, '5000000');
    assert.equal(r.StatusCode, 'STATUS_CODE_ERROR');
    assert.equal(r.StatusMessage, 'upstream failed');
    assert.deepEqual(r.ev_ts, [(baseNs + 1000n).toString()]);
    assert.deepEqual(r.ev_name, ['retry']);
    assert.deepEqual(r.ev_attrs, [{ attempt: '2' }]);
    assert.deepEqual(r.link_trace, []);

    assert.equal(c.ts, (baseNs + 10n).toString());
    assert.equal(c.TraceId, rc.traceId);
    assert.equal(c.ParentSpanId, rc.spanId);
    assert.equal(c.SpanKind, 'SPAN_KIND_CLIENT');
    assert.equal(c.dur, '2000');
    assert.equal(c.StatusCode, 'STATUS_CODE_UNSET');
    assert.deepEqual(c.link_trace, [rc.traceId]);
    assert.deepEqual(c.link_span, [rc.spanId]);
    assert.deepEqual(c.link_attrs, [{ why: 'follows' }]);

    const ids = await rowsWhen(1, `
      SELECT toUnixTimestamp(min(Start)) AS s, toUnixTimestamp(max(End)) AS e
      FROM otel_traces_trace_id_ts WHERE TraceId = {t:String} HAVING count() > 0`, { t: rc.traceId });
    // The lookup table holds second-resolution bounds, as the exporter's materialized view does:
    // the earliest and the latest span start (max(Timestamp), not a span's end), here the
    // root's and the child's. (Expecting the root's end failed whenever it fell in the next
    // second.)
    assert.deepEqual(ids, [{
      s: Number(baseNs / 1000000000n), e: Number((baseNs + 10n) / 1000000000n),
    }]);
  });

  test(`metrics over ${t.name}`, async () => {
    const service = `metrics-${t.name}`;
    // Delta over gRPC, cumulative elsewhere: both temporalities reach the tables.
    const temporality = t.name === 'grpc' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
    const reader = new PeriodicExportingMetricReader({
      exporter: t.metrics(temporality), exportIntervalMillis: 3600000,
    });
    const provider = new MeterProvider({
      resource: resource(service),
      readers: [reader],
      views: [{ instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    });
    const meter = provider.getMeter('kobs-test-meter', '2.0.0');
    meter.createCounter('requests', { description: 'Requests served', unit: '{request}' })
      .add(5, { route: '/a' });
    meter.createUpDownCounter('inflight').add(-3);
    meter.createGauge('temperature', { unit: 'Cel' }).record(21.5, { room: 'lab' });
    const h = meter.createHistogram('latency', { unit: 'ms', advice: { explicitBucketBoundaries: [10, 100] } });
    for (const v of [5, 50, 500, 70]) h.record(v);
    const e = meter.createHistogram('latency.exp');
    for (const v of [1, 2, 4, 8]) e.record(v);
    // One collection: shutdown() collects, exports and waits for the acknowledgement.
    await provider.shutdown();

    const wantTemporality = temporality === AggregationTemporality.DELTA ? 1 : 2;
    const sums = await rowsWhen(2, `
      SELECT MetricName, MetricDescription, MetricUnit, Attributes, Value, AggregationTemporality AS t,
             IsMonotonic, ScopeName, ScopeVersion, ResourceAttributes,
             TimeUnix >= StartTimeUnix AND StartTimeUnix > now64() - 60 AS ordered
      FROM otel_metrics_sum WHERE ServiceName = {s:String} ORDER BY MetricName`, { s: service });
    assert.equal(sums.length, 2, JSON.stringify(sums));
    const [inflight, requests] = sums;
    assert.equal(requests.MetricName, 'requests');
    assert.equal(requests.MetricDescription, 'Requests served');
    assert.equal(requests.MetricUnit, '{request}');
    assert.deepEqual(requests.Attributes, { route: '/a' });
    assert.equal(requests.Value, 5);
    assert.equal(requests.t, wantTemporality);
    assert.equal(requests.IsMonotonic, true);
    assert.equal(requests.ScopeName, 'kobs-test-meter');
    assert.equal(requests.ScopeVersion, '2.0.0');
    assert.equal(requests.ResourceAttributes['k8s.pod.name'], 'api-7d9f-x2x');
    assert.equal(requests.ordered, 1, JSON.stringify(requests));
    assert.equal(inflight.Value, -3);
    assert.equal(inflight.IsMonotonic, false);

    const gauges = await rowsWhen(1, `
      SELECT MetricName, MetricUnit, Attributes, Value FROM otel_metrics_gauge
      WHERE ServiceName = {s:String}`, { s: service });
    assert.deepEqual(gauges, [{ MetricName: 'temperature', MetricUnit: 'Cel', Attributes: { room: 'lab' }, Value: 21.5 }]);

    const hist = await rowsWhen(1, `
      SELECT MetricName, MetricUnit, toString(Count) AS n, Sum, BucketCounts, ExplicitBounds, Min, Max,
             AggregationTemporality AS t
      FROM otel_metrics_histogram WHERE ServiceName = {s:String}`, { s: service });
    assert.equal(hist.length, 1, JSON.stringify(hist));
    assert.equal(hist[0].MetricName, 'latency');
    assert.equal(hist[0].n, '4');
    assert.equal(hist[0].Sum, 625);
    assert.deepEqual(hist[0].BucketCounts.map(Number), [1, 2, 1]);
    assert.deepEqual(hist[0].ExplicitBounds, [10, 100]);
    assert.equal(hist[0].Min, 5);
    assert.equal(hist[0].Max, 500);
    assert.equal(hist[0].t, wantTemporality);

    const exp = await rowsWhen(1, `
      SELECT MetricName, toString(Count) AS n, Sum, Scale, toString(ZeroCount) AS zero, PositiveOffset,
             PositiveBucketCounts, NegativeBucketCounts, Min, Max, AggregationTemporality AS t
      FROM otel_metrics_exponential_histogram WHERE ServiceName = {s:String}`, { s: service });
    assert.equal(exp.length, 1, JSON.stringify(exp));
    const x = exp[0];
    assert.equal(x.MetricName, 'latency.exp');
    assert.equal(x.n, '4');
    assert.equal(x.Sum, 15);
    assert.equal(x.zero, '0');
    assert.equal(x.Min, 1);
    assert.equal(x.Max, 8);
    assert.equal(x.t, wantTemporality);
    assert.deepEqual(x.NegativeBucketCounts, []);
    assert.equal(x.PositiveBucketCounts.map(Number).reduce((p, q) => p + q, 0), 4);
    // Every value lies in the bucket the (scale, offset) layout gives it: base = 2^(2^-scale),
    // bucket index i covers (base^i, base^(i+1)].
    const base = Math.pow(2, Math.pow(2, -x.Scale));
    for (const v of [1, 2, 4, 8]) {
      const i = Math.ceil(Math.log(v) / Math.log(base) - 1e-9) - 1 - x.PositiveOffset;
      assert.ok(Number(x.PositiveBucketCounts[i]) >= 1, `value ${v} in bucket ${i}: ${JSON.stringify(x)}`);
    }
  });
}
