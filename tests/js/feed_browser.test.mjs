// A real browser's EventSource (headless Chromium, driven by playwright-core) on the SSE event
// feed of `kobs serve --sim`, across a restart of kobs: the browser subscribes to one
// composition's topic, kobs stops (the stream ends) and starts again on the same data
// directory, simulated cluster and ports, and the browser reconnects on its own, sending the
// Last-Event-ID of the last frame it got. It must get every frame of its topic exactly once, in
// order, with the original proxy's SSEK8sEvent JSON: what it got is compared with what the
// server replays, from the browser's first id, to a plain (non-browser) client.
//
// The browser stays online throughout, so it also reconnects while kobs is stopping and
// starting. An EventSource that gets any answer but a 200 event stream closes for good, so
// kobs answers it then with a stream that only says `retry:`; a plain client that asks as an
// EventSource does probes those moments (the second test). KOBS_FEED_BROWSER_GATED=1 takes
// the browser offline while kobs is down instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startKobs } from './kobs_server.mjs';

const CHROMIUM = process.env.KOBS_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];
// The keys of the original proxy's SSEK8sEvent JSON, in its order.
const SSE_EVENT_KEYS = ['metadata', 'involvedObject', 'reason', 'message', 'type',
  'firstTimestamp', 'lastTimestamp', 'eventTime', 'source'];
const ID_RE = /^(\d+)-([0-9a-f]{16})-([01])$/;
const GATED = process.env.KOBS_FEED_BROWSER_GATED === '1';

// What a plain client got from /notifications/ while kobs stopped and started again.
const probe = { ran: false, ok: 0, refused: 0, bad: [] };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// An SSE id as a comparable tuple: (FeedTime ns, FeedKey, frame).
function parseId(id) {
  const m = ID_RE.exec(id);
  assert.ok(m, `malformed SSE id ${JSON.stringify(id)}`);
  return [BigInt(m[1]), BigInt('0x' + m[2]), Number(m[3])];
}

function compareIds(a, b) {
  const x = parseId(a);
  const y = parseId(b);
  for (let i = 0; i < 3; ++i) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

// Rejects with `what` when `promise` takes longer than `ms`.
async function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Reads `url` as SSE with `headers` until `done(frames)` holds or `ms` pass; the frames seen.
async function readSse(url, headers, done, ms) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const frames = [];
  try {
    const res = await fetch(url, { headers, signal: ac.signal });
    assert.equal(res.status, 200, `GET ${url}: ${res.status}`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const f = {};
        for (const line of block.split('\n')) {
          const m = /^(id|event|data): ?(.*)$/.exec(line);
          if (m) f[m[1]] = m[2];
        }
        if (f.id !== undefined && f.data !== undefined) frames.push(f);
      }
      if (done(frames)) break;
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return frames;
}

// Asks for `url` every few ms until `until.stop`, recording the answers in `probe` (a 200 is
// an SSE stream, dropped at once) with `until.phase`.
async function probeLoop(url, until) {
  probe.ran = true;
  while (!until.stop) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 2000);
    try {
      const res = await fetch(url, { signal: ac.signal, headers: { Accept: 'text/event-stream' } });
      if (res.status === 200) {
        probe.ok += 1;
      } else {
        probe.bad.push(`${new Date().toISOString()} (${until.phase}) ${res.status} ` +
          (await res.text()).trim());
      }
    } catch {
      probe.refused += 1;  // not listening (or no answer within 2 s)
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    await sleep(5);
  }
}

test('a browser EventSource gets every frame of its composition once, across a kobs restart', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kobs-feed-browser-'));
  let kobs = null;
  let browser = null;
  t.after(async () => {
    await browser?.close().catch(() => {});
    await kobs?.stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  });

  // Fixed ports, so the restarted kobs is where the browser reconnects.
  const [api, ch, otlpHttp, otlpGrpc, mcp, sim] = await Promise.all(
    Array.from({ length: 6 }, freePort));
  const env = {
    KOBS_API_LISTEN: `127.0.0.1:${api}`,
    KOBS_CLICKHOUSE_HTTP_LISTEN: `127.0.0.1:${ch}`,
    KOBS_OTLP_HTTP_LISTEN: `127.0.0.1:${otlpHttp}`,
    KOBS_OTLP_GRPC_LISTEN: `127.0.0.1:${otlpGrpc}`,
    KOBS_MCP_LISTEN: `127.0.0.1:${mcp}`,
    KOBS_FEED_RETRY: '500ms',  // the browser reconnects quickly
    // What the collectors stored, so the restart stores nothing twice.
    KOBS_K8S_STATE_FILE: join(root, 'k8s-events.json'),
    KOBS_K8S_POD_LOGS_CHECKPOINT: join(root, 'pod-logs.json'),
  };
  // The composition's crash loop, and a bare crash-looping pod whose events (topic krateo
  // only) the composition's subscribers must not get.
  const args = ['--sim', '--sim-dir', join(root, 'sim'), '--sim-listen', `127.0.0.1:${sim}`,
    '--sim-scenario', 'composition-crashloop', '--sim-scenario', 'crashloop-pod'];
  const start = () => startKobs(env, args, { dir: root });
  const stop = async () => {
    const k = kobs;
    kobs = null;
    const { code, signal } = await within(30000, 'kobs to exit on SIGTERM', k.stop())
      .catch((e) => { k.child.kill('SIGKILL'); throw e; });
    assert.equal(code, 0, `kobs exits 0 on SIGTERM (signal ${signal}):\n${k.lines.slice(-20).join('\n')}`);
  };
  const logTail = () => (kobs ? kobs.lines.slice(-15).join('\n') : '(kobs not running)');

  kobs = await start();
  const base = kobs.apiUrl;
  assert.equal(base, `http://127.0.0.1:${api}`);

  // The composition's id, once its first events are stored.
  let cid = '';
  {
    const q = encodeURIComponent(
      "SELECT any(CompositionId) FROM kobs_k8s_events WHERE CompositionId != ''");
    const deadline = Date.now() + 45000;
    while (!/^[0-9a-f-]{36}$/.test(cid)) {
      if (Date.now() > deadline) assert.fail(`no composition events after 45 s:\n${logTail()}`);
      await sleep(300);
      const res = await fetch(`${kobs.clickhouseUrl}/?query=${q}`);
      cid = res.ok ? (await res.text()).trim() : '';
    }
  }

  browser = await within(30000, `launching ${CHROMIUM}`, chromium.launch({
    executablePath: CHROMIUM, args: CHROMIUM_ARGS,
  }));
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  const nav = await page.goto(`${base}/health`);
  assert.equal(nav?.status(), 200);

  // The page's EventSource on the composition's topic. Each event remembers the connection
  // (count of `open`s) it came on.
  await page.evaluate(({ url, topic }) => {
    const s = (window.__feed = { got: [], opens: 0, errors: 0, others: 0 });
    const es = (window.__es = new EventSource(url));
    es.addEventListener('open', () => { s.opens += 1; });
    es.addEventListener('error', () => { s.errors += 1; });
    es.addEventListener(topic, (e) => s.got.push({ id: e.lastEventId, data: e.data, conn: s.opens }));
    // Frames of another topic, or without one: the server must not send them here.
    es.addEventListener('krateo', () => { s.others += 1; });
    es.onmessage = () => { s.others += 1; };
  }, { url: `${base}/notifications/${cid}`, topic: cid });

  const state = () => page.evaluate(() => ({
    opens: window.__feed.opens,
    errors: window.__feed.errors,
    others: window.__feed.others,
    got: window.__feed.got.length,
    afterReconnect: window.__feed.got.filter((e) => e.conn >= 2).length,
    readyState: window.__es.readyState,
  }));
  // Polls the page until `pred(state)` holds; fails with the page's and kobs's state otherwise.
  const waitFor = async (what, pred, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await state();
      if (pred(s)) return s;
      const closed = s.readyState === 2;  // EventSource.CLOSED: the browser gave up
      if (closed || Date.now() > deadline) {
        assert.fail(`${closed ? 'the EventSource closed (it will not reconnect)' : `timed out after ${ms} ms`}` +
          ` waiting for ${what}; page state ${JSON.stringify(s)}\nconsole:\n${consoleLines.join('\n')}` +
          `\nkobs:\n${logTail()}`);
      }
      await sleep(100);
    }
  };

  const first = await waitFor('3 events of the composition', (s) => s.got >= 3 && s.opens === 1, 30000);
  t.diagnostic(`before the restart: ${JSON.stringify(first)}`);

  // Stop kobs: the stream ends, the browser retries (offline, or refused, meanwhile).
  const probing = { stop: false, phase: 'stopping' };
  const probed = probeLoop(`${base}/notifications/${cid}`, probing);
  try {
    if (GATED) await page.context().setOffline(true);
    await stop();
    await sleep(2000);
    const down = await state();
    assert.ok(down.errors >= 1, `the browser saw the stream end: ${JSON.stringify(down)}`);
    assert.equal(down.readyState, 0, `the EventSource is reconnecting (CONNECTING): ${JSON.stringify(down)}`);

    // The same kobs again: same data directory, simulated cluster and ports.
    probing.phase = 'starting';
    kobs = await start();
    assert.equal(kobs.apiUrl, base);
    if (GATED) await page.context().setOffline(false);
    await sleep(300);
  } finally {
    probing.stop = true;
    await probed;
  }
  const after = await waitFor('the reconnect and 3 more events',
    (s) => s.opens >= 2 && s.afterReconnect >= 3, 45000);
  t.diagnostic(`after the restart: ${JSON.stringify(after)}`);

  // The browser reconnected with its Last-Event-ID: the feed counts it as a replay.
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const replays = metrics.split('\n').filter((l) => l.startsWith('kobs_feed_replays_total'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  assert.ok(replays >= 1, `a Last-Event-ID reconnect was served:\n${metrics.split('\n')
    .filter((l) => l.startsWith('kobs_feed')).join('\n')}`);

  const got = await page.evaluate(() => {
    window.__es.close();
    return window.__feed.got;
  });
  const final = await state();
  assert.equal(final.others, 0, 'no frame of another topic reached the composition\'s stream');
  // While kobs starts, the browser may be told to come back (an open that only says retry:)
  // before the stream that carries frames, so it may open more than twice.
  assert.ok(final.opens >= 2, `the browser reconnected: ${JSON.stringify(final)}`);

  // Unique, strictly increasing ids of the composition's frame (1).
  const ids = got.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids.join(' ')}`);
  for (let i = 0; i < ids.length; ++i) {
    assert.equal(parseId(ids[i])[2], 1, `frame 1 (the composition's topic): ${ids[i]}`);
    if (i > 0) {
      assert.equal(compareIds(ids[i - 1], ids[i]), -1, `ids out of order: ${ids[i - 1]} then ${ids[i]}`);
    }
  }
  // The original proxy's JSON, for the composition's objects.
  for (const e of got) {
    const obj = JSON.parse(e.data);
    assert.deepEqual(Object.keys(obj), SSE_EVENT_KEYS, e.data);
    assert.equal(obj.involvedObject.namespace, 'demo-system', e.data);
    assert.match(obj.involvedObject.name, /^fireworks-demo/, e.data);
    assert.ok(obj.reason, e.data);
  }
  assert.ok(got.some((e) => e.conn === 1) && got.some((e) => e.conn >= 2));

  // No gap: a plain client that asks for everything after the browser's first id gets exactly
  // what the browser got after it, up to the browser's last id.
  const lastId = ids.at(-1);
  const replay = await readSse(`${base}/notifications/${cid}`, { 'Last-Event-ID': ids[0] },
    (frames) => frames.some((f) => f.id === lastId), 15000);
  for (const f of replay) assert.equal(f.event, cid, `replayed frame of another topic: ${f.id}`);
  const replayIds = replay.map((f) => f.id);
  const upTo = replayIds.indexOf(lastId);
  assert.ok(upTo >= 0, `the replay from ${ids[0]} reaches the browser's last id ${lastId} within 15 s; ` +
    `it got ${replayIds.length} frames: ${replayIds.join(' ')}`);
  assert.deepEqual(ids.slice(1), replayIds.slice(0, upTo + 1),
    'the browser got exactly the frames the server replays (none missed, none extra)');
  const byId = new Map(replay.map((f) => [f.id, f.data]));
  for (const e of got.slice(1)) assert.equal(e.data, byId.get(e.id), `same data for ${e.id}`);
  t.diagnostic(`${ids.length} frames, ${got.filter((e) => e.conn >= 2).length} after the reconnect; ` +
    `replay matched ${upTo + 1}`);

  await browser.close();
  browser = null;
  await stop();
});

test('/notifications/ never answers an EventSource with non-200 while kobs stops or starts', (t) => {
  if (!probe.ran) return t.skip('the restart did not happen');
  t.diagnostic(`probe: ${probe.ok} streams, ${probe.refused} refused, ${probe.bad.length} other answers`);
  assert.deepEqual(probe.bad, [], 'every answer while kobs stops and starts is a stream or a refusal');
});
