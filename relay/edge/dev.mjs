// Serves the built Worker (dist/) in workerd through miniflare, configured
// from wrangler.jsonc, like a native relay: PARLEY_ADDR (default
// 127.0.0.1:8788), state under PARLEY_DATA (default ./parley-edge-data:
// the Durable Objects' SQLite and the local R2 bucket of attachments),
// the token secret from PARLEY_SECRET (else PARLEY_DATA/secret, created
// once, as the native relay does).
//
// SIGUSR2 makes every relay object (the shards and the store) hibernate (workerd evicts it and keeps
// its WebSockets), as Cloudflare does to an idle object; the next frame
// constructs it again. "hibernated" is printed when done. SIGINT/SIGTERM
// stop workerd.
import { Miniflare } from "miniflare";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
// JSONC: drop // comments (none of our strings holds "//").
const cfg = JSON.parse(readFileSync(path.join(here, "wrangler.jsonc"), "utf8").replace(/^\s*\/\/.*$/gm, "").replace(/\s\/\/.*$/gm, ""));

const addr = process.env.PARLEY_ADDR || "127.0.0.1:8788";
const i = addr.lastIndexOf(":");
const host = addr.slice(0, i) || "127.0.0.1";
const port = Number(addr.slice(i + 1));
const data = path.resolve(process.env.PARLEY_DATA || "./parley-edge-data");
mkdirSync(data, { recursive: true, mode: 0o700 });
let secret = process.env.PARLEY_SECRET;
if (!secret) {
  const file = path.join(data, "secret");
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  secret = readFileSync(file, "utf8").trim();
}

const bindings = { PARLEY_SECRET: secret };
for (const k of ["PARLEY_TOKEN_AUDIENCE", "PARLEY_TOKEN_ISSUER", "PARLEY_RELAY_FLAGS", "PARLEY_ADMIN_SECRET", "PARLEY_SHARDS", "PARLEY_STORES"]) if (process.env[k]) bindings[k] = process.env[k];

const mf = new Miniflare({
  modulesRoot: dist,
  modules: [
    { type: "ESModule", path: path.join(dist, "entry.mjs") },
    { type: "ESModule", path: path.join(dist, "storage.mjs") },
    { type: "ESModule", path: path.join(dist, "shard.mjs") },
    { type: "ESModule", path: path.join(dist, "worker.mjs") },
    { type: "ESModule", path: path.join(dist, "runtime.mjs") },
    { type: "ESModule", path: path.join(dist, "wasm_exec.js") },
    { type: "CompiledWasm", path: path.join(dist, "app.wasm") },
  ],
  compatibilityDate: cfg.compatibility_date,
  compatibilityFlags: cfg.compatibility_flags,
  durableObjects: Object.fromEntries(cfg.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: true }])),
  durableObjectsPersist: path.join(data, "durable-objects"),
  // The attachments' bucket, in miniflare's local R2, kept under PARLEY_DATA.
  r2Buckets: (cfg.r2_buckets ?? []).map((b) => b.binding),
  r2Persist: path.join(data, "r2"),
  bindings,
  host,
  port,
});
const url = await mf.ready;
console.log(`parley edge relay on ${url.href.replace(/\/$/, "")} (workerd, data in ${data})`);

process.on("SIGUSR2", async () => {
  const began = Date.now();
  try {
    let n = 0;
    for (const cls of ["Shard", "Store"]) {
      const ids = await mf.listDurableObjectIds(cls);
      for (const id of ids) {
        try {
          await mf.unsafeEvictDurableObject("", cls, { id, webSockets: "hibernate" });
        } catch (e) {
          if (!/not currently running/.test(String(e && e.message))) throw e; // asleep already
        }
      }
      n += ids.length;
    }
    console.log(`hibernated ${n} in ${Date.now() - began} ms`);
  } catch (e) {
    console.log(`hibernate failed: ${e && e.stack}`);
  }
});
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
