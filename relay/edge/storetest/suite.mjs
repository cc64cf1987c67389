// The test Worker that runs the relay's store conformance suite on a
// Durable Object's SQLite storage: the relay package's tests compiled for
// js/wasm (suite.wasm) run inside the Suite object, where they open the
// SQLite store on the object's ctx.storage.sql through relay/edge/dosql
// (relay/store_do_js_test.go), with the glue the relay's own object uses
// (js/storage.mjs). run.mjs serves it in workerd and prints what it writes.
//
// POST / with the test binary's flags as a JSON array runs the binary once,
// in a new object (fresh storage), and streams its stdout and stderr back;
// the last line is "parley-suite-exit N", N its exit code.
import "./wasm_exec.js"; // the Go toolchain's own, matching the binary (defines globalThis.Go)
import mod from "./suite.wasm";
import { DurableObject } from "cloudflare:workers";
import { sqlHost } from "./storage.mjs";

export class Suite extends DurableObject {
  async fetch(request) {
    const flags = await request.json();
    globalThis.parleySuiteStorage = sqlHost(this.ctx.storage);
    let out;
    const body = new ReadableStream({ start: (c) => (out = c) });
    const bytes = new TextEncoder();
    // Everything Go writes to stdout and stderr goes through fs.writeSync.
    globalThis.fs.writeSync = (fd, buf) => {
      out.enqueue(buf.slice());
      return buf.length;
    };
    const go = new Go();
    go.argv = ["relay.test", ...flags];
    let code = 1;
    go.exit = (c) => (code = c);
    const instance = new WebAssembly.Instance(mod, go.importObject);
    go.run(instance).then(
      () => {
        out.enqueue(bytes.encode(`\nparley-suite-exit ${code}\n`));
        out.close();
      },
      (e) => {
        out.enqueue(bytes.encode(`\nthe test binary failed in workerd: ${(e && e.stack) || e}\nparley-suite-exit 2\n`));
        out.close();
      },
    );
    return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8" } });
  }
}

export default {
  fetch(request, env) {
    return env.SUITE.get(env.SUITE.newUniqueId()).fetch(request);
  },
};
