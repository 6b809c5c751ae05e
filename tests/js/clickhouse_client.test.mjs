// The official ClickHouse client (@clickhouse/client) against kobs's ClickHouse endpoint on the
// embedded store: ping, parameterised queries, inserts, errors, and the predefined /events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@clickhouse/client';
import { startKobs } from './kobs_server.mjs';

let kobs;
let client;

before(async () => {
  kobs = await startKobs();
  client = createClient({ url: kobs.clickhouseUrl, username: 'default', password: '' });
});

after(async () => {
  await client?.close();
  const { code } = await kobs.stop();
  assert.equal(code, 0, 'kobs exits 0 on SIGTERM');
});

test('ping', async () => {
  const r = await client.ping();
  assert.equal(r.success, true, JSON.stringify(r));
});

test('query with bound parameters, JSON formats', async () => {
  const rs = await client.query({
    query: 'SELECT {n:UInt32} + 1 AS n, {s:String} AS s, {t:DateTime64(3)} AS t',
    query_params: { n: 41, s: "it's \"quoted\"\nand\ttabbed\\", t: '2026-11-25 10:00:00.123' },
    format: 'JSONEachRow',
  });
  const rows = await rs.json();
  assert.deepEqual(rows, [{ n: 42, s: "it's \"quoted\"\nand\ttabbed\\", t: '2026-11-25 10:00:00.123' }]);
  const full = await (await client.query({ query: 'SELECT number FROM numbers(3)', format: 'JSON' })).json();
  assert.equal(full.rows, 3);
  assert.deepEqual(full.data.map((r) => Number(r.number)), [0, 1, 2]);
});

test('DDL, insert of objects, and read back', async () => {
  await client.command({ query: 'CREATE TABLE js_t (id UInt32, name String, tags Map(String, String)) ENGINE = MergeTree ORDER BY id' });
  await client.insert({
    table: 'js_t',
    values: [
      { id: 1, name: 'one', tags: { a: '1' } },
      { id: 2, name: 'two\n\nDROP TABLE js_t', tags: {} },
    ],
    format: 'JSONEachRow',
  });
  const rows = await (await client.query({ query: 'SELECT id, name, tags FROM js_t ORDER BY id', format: 'JSONEachRow' })).json();
  assert.deepEqual(rows, [
    { id: 1, name: 'one', tags: { a: '1' } },
    { id: 2, name: 'two\n\nDROP TABLE js_t', tags: {} },
  ]);
});

test('server errors carry the ClickHouse code', async () => {
  await assert.rejects(client.query({ query: 'SELECT * FROM no_such_table', format: 'JSON' }), (err) => {
    assert.equal(err.code, '60');
    assert.match(err.message, /no_such_table/);
    return true;
  });
  await assert.rejects(client.query({ query: 'SELEC 1' }), (err) => err.code === '62');
});

test('the OTel tables exist and the predefined /events handler answers', async () => {
  const tables = await (await client.query({ query: "SELECT name FROM system.tables WHERE database = 'default' AND name LIKE 'otel_%' ORDER BY name", format: 'JSONEachRow' })).json();
  assert.ok(tables.map((t) => t.name).includes('otel_logs'));
  const res = await fetch(`${kobs.clickhouseUrl}/events?composition_id=none`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.rows, 0);
  assert.deepEqual(body.meta.map((m) => m.name), ['obj_name', 'obj_namespace', 'obj_uid', 'obj_kind', 'reason', 'message', 'type', 'eventTime', 'source_component']);
});

test('health, readiness and Prometheus metrics', async () => {
  assert.equal((await fetch(`${kobs.apiUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${kobs.apiUrl}/readyz`)).status, 200);
  const metrics = await (await fetch(`${kobs.apiUrl}/metrics`)).text();
  assert.match(metrics, /^process_resident_memory_bytes \d+/m);
  assert.match(metrics, /^kobs_store_queries_total\{backend="embedded"\} \d+/m);
  assert.match(metrics, /^kobs_http_requests_total\{/m);
  assert.match(metrics, /^kobs_ready 1$/m);
});
