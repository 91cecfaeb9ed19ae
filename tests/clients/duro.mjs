// tests/clients/duro.mjs: starts the real duro binaries for the Node client tests.
//
// startDuro() runs $DURO_GATEWAY --listen 127.0.0.1:0 --workers 2 --worker-bin $DURO_WORKER
// with a config that routes /echo to the echo class and *\/websocket to the seed, waits for the
// ` listen=HOST:PORT` readiness line and the workers' `worker_spawned` lines, and returns
// { host, port, stop() }. stop() sends SIGTERM to the gateway's PID, SIGKILL after a bound, and
// SIGKILL to any worker PID it logged that is still alive. Every wait is bounded.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SKIP = 77; // meson's exit code for a skipped test

export const CONFIG = `[server]
; the admin listener's default port would collide between test gateways
admin = off

[route echo]
match = exact /echo
class = echo
object = echo

[route seed]
match = suffix /websocket
class = seed
object = foo
`;

const START_TIMEOUT_MS = 15000;
const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer/;
const STOP_TIMEOUT_MS = 5000;

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function isWorker(pid, workerBin) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(path.basename(workerBin));
  } catch {
    return false;
  }
}

export function binaries() {
  const gateway = process.env.DURO_GATEWAY;
  const worker = process.env.DURO_WORKER;
  for (const [name, p] of [['DURO_GATEWAY', gateway], ['DURO_WORKER', worker]]) {
    if (!p) {
      throw new Error(`${name} is not set: point it at the built binary`);
    }
    fs.accessSync(p, fs.constants.X_OK);
  }
  return { gateway, worker };
}

export async function startDuro({ config = CONFIG, workers = 2 } = {}) {
  const { gateway, worker } = binaries();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'duro-clients-'));
  const cfg = path.join(dir, 'duro.ini');
  fs.writeFileSync(cfg, config);
  const child = spawn(gateway, ['--listen', '127.0.0.1:0', '--workers', String(workers),
    '--worker-bin', worker, '-c', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = [];
  const workerPids = [];
  let pending = '';
  let listen = null;
  let waiter = null;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    pending += chunk;
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      lines.push(line);
      const m = / listen=(\S+)/.exec(line);
      if (m && !listen) {
        listen = m[1];
      }
      const w = /event=worker_spawned\b.*\bworker_pid=(\d+)/.exec(line);
      if (w) {
        workerPids.push(Number(w[1]));
      }
      if (waiter) {
        waiter();
      }
    }
  });
  let exited = false;
  child.on('exit', () => { exited = true; if (waiter) waiter(); });

  let stopped = false;
  const stop = async () => {
    if (stopped) {
      return;
    }
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const t0 = Date.now();
      while (!exited && Date.now() - t0 < STOP_TIMEOUT_MS) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (!exited) {
        child.kill('SIGKILL');
      }
    }
    const t0 = Date.now();
    while (workerPids.some(alive) && Date.now() - t0 < STOP_TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const pid of workerPids) {
      if (alive(pid) && isWorker(pid, worker)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  const configured = () => lines.filter((l) => /mod=intake event=configured\b/.test(l)).length;
  while (!(listen && workerPids.length >= workers && configured() >= workers)) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`duro did not start (exited=${exited}); log:\n${lines.slice(-20).join('\n')}`);
    }
    await new Promise((r) => { waiter = r; setTimeout(r, 100); });
    waiter = null;
  }
  const cut = listen.lastIndexOf(':');
  return {
    host: listen.slice(0, cut).replace(/^\[|\]$/g, ''),
    port: Number(listen.slice(cut + 1)),
    lines,
    stop,
  };
}

// Runs `body(duro)` with a fresh duro, bounded by `timeoutMs`; stops duro whatever happens.
// Exits 0 on success, 1 on failure (printing the error and the log tail).
export async function runTest(name, body, { timeoutMs = 60000, config } = {}) {
  let duro = null;
  let timer = null;
  try {
    duro = await startDuro({ config });
    await Promise.race([
      body(duro),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name}: over ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    await duro.stop();
    const reports = duro.lines.filter((l) => SANITIZER_RE.test(l));
    if (reports.length) {
      throw new Error(`sanitizer reports in the servers' stderr:\n${reports.slice(0, 30).join('\n')}`);
    }
    console.log(`PASS ${name}`);
    return 0;
  } catch (e) {
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    if (duro) {
      console.log(duro.lines.slice(-20).join('\n'));
    }
    return 1;
  } finally {
    clearTimeout(timer);
    if (duro) {
      await duro.stop();
    }
  }
}

export function assert(cond, what) {
  if (!cond) {
    throw new Error(`assertion failed: ${what}`);
  }
}

export function assertEqual(got, want, what) {
  if (got !== want) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
}
