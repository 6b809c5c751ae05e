// Starts `kobs serve` on an empty data directory with every port chosen by the OS, and reads
// the actual addresses from its "ready" log line. Used by the node tests in this folder.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';

// `args` are added after `serve` (e.g. ['--sim', ...]). `options.dir`: run in this existing
// directory (its data, spool and state; to restart on them) and leave it in place on stop();
// by default a fresh temporary one, removed on stop().
export async function startKobs(extraEnv = {}, args = [], options = {}) {
  const bin = process.env.KOBS_BIN;
  if (!bin) throw new Error('KOBS_BIN must name the kobs binary');
  const ownDir = !options.dir;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kobs-js-'));
  const child = spawn(bin, ['serve', ...args], {
    cwd: dir,
    env: {
      ...process.env,
      KOBS_STORE_EMBEDDED_PATH: join(dir, 'data'),
      KOBS_API_LISTEN: '127.0.0.1:0',
      KOBS_CLICKHOUSE_HTTP_LISTEN: '127.0.0.1:0',
      KOBS_OTLP_HTTP_LISTEN: '127.0.0.1:0',
      KOBS_OTLP_GRPC_LISTEN: '127.0.0.1:0',
      KOBS_STORE_WRITER_SPOOL_DIR: join(dir, 'spool'),
      KOBS_MCP_LISTEN: '127.0.0.1:0',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines = [];
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('kobs did not get ready:\n' + lines.join('\n')));
    }, 30000);
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === 'ready') { clearTimeout(timer); resolve(rec); }
      } catch { /* not JSON */ }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`kobs exited ${code}:\n` + lines.join('\n'))); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });  // e.g. it cannot be spawned
  });
  return {
    clickhouseUrl: ready.clickhouse_http,
    apiUrl: ready.api,
    otlpHttpUrl: ready.otlp_http,
    otlpGrpcAddr: ready.otlp_grpc,
    mcpUrl: ready.mcp,
    dir,
    lines,
    child,
    async stop() {
      const exited = child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
        : new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      child.kill('SIGTERM');
      const result = await exited;
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      return result;
    },
  };
}
