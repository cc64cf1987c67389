// Runs the relay package's tests, compiled for js/wasm, inside a Durable
// Object in workerd (through miniflare, with the compatibility date of
// ../wrangler.jsonc), and prints their output as `go test -v` would: pipe
// it through `go tool test2json` to count the results. Exits with the test
// binary's exit code.
//
//   node run.mjs SUITE.wasm WASM_EXEC.js [test flags...]
//
// ./build.sh edge-store builds the binary and runs the store conformance
// suite this way.
import { Miniflare } from "miniflare";
import { readFileSync, mkdtempSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [wasm, wasmExec, ...flags] = process.argv.slice(2);
if (!wasm || !wasmExec) {
  console.error("usage: node run.mjs SUITE.wasm WASM_EXEC.js [test flags...]");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const cfg = JSON.parse(readFileSync(path.join(here, "..", "wrangler.jsonc"), "utf8").replace(/^\s*\/\/.*$/gm, "").replace(/\s\/\/.*$/gm, ""));

const root = mkdtempSync(path.join(tmpdir(), "parley-storetest-"));
copyFileSync(path.join(here, "suite.mjs"), path.join(root, "suite.mjs"));
copyFileSync(path.join(here, "..", "js", "storage.mjs"), path.join(root, "storage.mjs"));
copyFileSync(wasmExec, path.join(root, "wasm_exec.js"));
copyFileSync(wasm, path.join(root, "suite.wasm"));

const mf = new Miniflare({
  modulesRoot: root,
  modules: [
    { type: "ESModule", path: path.join(root, "suite.mjs") },
    { type: "ESModule", path: path.join(root, "storage.mjs") },
    { type: "ESModule", path: path.join(root, "wasm_exec.js") },
    { type: "CompiledWasm", path: path.join(root, "suite.wasm") },
  ],
  compatibilityDate: cfg.compatibility_date,
  compatibilityFlags: cfg.compatibility_flags,
  durableObjects: { SUITE: { className: "Suite", useSQLite: true } },
});

let code = 2;
try {
  const res = await mf.dispatchFetch("http://suite/", { method: "POST", body: JSON.stringify(flags) });
  const decoder = new TextDecoder();
  let tail = "";
  for await (const chunk of res.body) {
    // Hold back the last line until it is known not to be the exit line.
    tail += decoder.decode(chunk, { stream: true });
    const nl = tail.lastIndexOf("\n");
    if (nl >= 0) {
      const lines = tail.slice(0, nl + 1);
      tail = tail.slice(nl + 1);
      const m = lines.match(/\nparley-suite-exit (\d+)\n$/) || lines.match(/^parley-suite-exit (\d+)\n$/);
      if (m) {
        code = Number(m[1]);
        process.stdout.write(lines.slice(0, m.index + (lines[m.index] === "\n" ? 1 : 0)));
      } else {
        process.stdout.write(lines);
      }
    }
  }
  process.stdout.write(tail);
} catch (e) {
  console.error(`run.mjs: ${(e && e.stack) || e}`);
} finally {
  await mf.dispose();
  rmSync(root, { recursive: true, force: true });
}
process.exit(code);
