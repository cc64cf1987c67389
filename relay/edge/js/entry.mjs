// The Worker's entry: the front door and the relay's Durable Object.
//
// Everything but the WebSocket goes to the Go front door (github.com/syumai/
// workers: a Go instance per request, stateless). /v1/ws goes to the Relay
// Durable Object, which accepts the socket with the hibernation API and
// hands each binary frame to the relay's Go code: ONE long-lived Go
// instance per isolate (the same app.wasm, started in its "objects" role)
// serves every Relay object in the isolate, keyed by object id. An object
// constructed again after hibernation or eviction reopens its relay from
// its SQLite storage and restores its sockets' sessions from their
// attachments; no Go instance is ever started per message.
import frontDoor from "./worker.mjs"; // syumai/workers' entry (defines globalThis.Go)
import mod from "./app.wasm";
import { DurableObject } from "cloudflare:workers";
import { sqlHost } from "./storage.mjs";

// The name of the one Relay object a deployment uses (see docs/deployment.md).
const RELAY_OBJECT = "relay";

let relay; // Promise of the Go instance's functions, shared by this isolate's objects

// goRelay starts the Go instance, once per isolate, with env (the
// Worker's variables, secrets and bindings, the same for every object):
// its relays read their options and the R2 bucket from it.
function goRelay(env) {
  if (!relay) {
    relay = (async () => {
      const binding = {};
      const go = new Go();
      hibernatableTimers(go);
      let ready;
      const started = new Promise((resolve) => (ready = resolve));
      const instance = new WebAssembly.Instance(mod, {
        ...go.importObject,
        workers: { ready: () => ready() },
      });
      go.run(instance, { parleyObjects: true, binding, env, ctx: {} }).catch((e) => console.error("relay wasm exited", e));
      await started;
      return binding;
    })();
    relay.catch(() => (relay = undefined));
  }
  return relay;
}

// Timers. Go's wasm runtime waits for its next timer with setTimeout, and
// a pending setTimeout keeps a Durable Object from hibernating. The relay's
// long timers (each session's heartbeat deadline and token expiry, seconds
// to tens of seconds away) are therefore kept here, not in setTimeout, and
// driven by the object's alarm: the alarm is set to the earliest of them
// (an alarm wakes a hibernating object), and when it rings, or when any
// other event reaches the object first (a frame, a close, a request), the
// due timers fire before anything else is handed to Go. A session whose
// heartbeat deadline or token expiry passes is thus closed on time even
// when nothing else happens, as the native relay closes it. Short waits
// (the relay's idle worker goroutines, retries; REAL_TIMER_MS or less) stay
// real timeouts, so nothing in flight waits for an event.
const REAL_TIMER_MS = 2000;
let fireDueTimers = () => {};
let nextDue = () => undefined; // the earliest deferred timer's due time (ms since the epoch), if any
// The Relay objects of this isolate: one Go instance serves them all, so a
// new deferred timer arms the alarm of each (an alarm that rings early
// only fires what is due and re-arms).
const objects = new Set();
function armAll(due) {
  for (const o of objects) o.armAlarm(due);
}

function hibernatableTimers(go) {
  const gojs = go.importObject.gojs;
  const schedule = gojs["runtime.scheduleTimeoutEvent"];
  const clear = gojs["runtime.clearTimeoutEvent"];
  const deferred = new Map(); // timeout id → due (ms since the epoch)
  gojs["runtime.scheduleTimeoutEvent"] = (sp) => {
    sp >>>= 0;
    const ms = go.mem.getUint32(sp + 8, true) + go.mem.getInt32(sp + 12, true) * 4294967296;
    if (ms <= REAL_TIMER_MS) return schedule(sp);
    const id = go._nextCallbackTimeoutID++;
    go._scheduledTimeouts.set(id, undefined);
    const due = Date.now() + ms;
    deferred.set(id, due);
    go.mem.setInt32(sp + 16, id, true);
    armAll(due);
  };
  gojs["runtime.clearTimeoutEvent"] = (sp) => {
    const id = go.mem.getInt32((sp >>> 0) + 8, true);
    if (deferred.delete(id)) {
      go._scheduledTimeouts.delete(id);
      return;
    }
    clear(sp);
  };
  nextDue = () => {
    let min;
    for (const due of deferred.values()) if (min === undefined || due < min) min = due;
    return min;
  };
  fireDueTimers = () => {
    const now = Date.now();
    for (const [id, due] of deferred) {
      if (due > now) continue;
      deferred.delete(id);
      if (go._scheduledTimeouts.has(id)) {
        go._resume(); // Go runs its expired timers and clears the event
        go._scheduledTimeouts.delete(id);
      }
    }
  };
}

export class Relay extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sockets = new Map(); // connection id → WebSocket
    this.objectId = ctx.id.toString();
    this.alarmAt = undefined; // when this object's alarm is set to ring, as this instance set it
    objects.add(this);
    ctx.blockConcurrencyWhile(() => this.boot());
  }

  // armAlarm makes the object's alarm ring no later than due (ms since the
  // epoch); without due, at the earliest deferred timer.
  armAlarm(due = nextDue()) {
    if (due === undefined) return;
    if (this.alarmAt !== undefined && this.alarmAt > Date.now() && this.alarmAt <= due) return;
    this.alarmAt = due;
    this.ctx.storage.setAlarm(due);
  }

  // alarm rings at the earliest deferred timer (or after an eviction, when
  // the timers it was set for are gone with the Go instance: the restored
  // sessions then have new ones): fire what is due and set the next one.
  async alarm() {
    this.alarmAt = undefined;
    fireDueTimers();
    this.armAlarm();
  }

  async boot() {
    this.go = await goRelay(this.env);
    const host = {
      ...sqlHost(this.ctx.storage), // exec and tx, for relay/edge/dosql
      send: (id, frame) => {
        const ws = this.sockets.get(id);
        if (ws) {
          try {
            ws.send(frame);
          } catch {}
        }
      },
      close: (id, code, reason) => {
        const ws = this.sockets.get(id);
        this.sockets.delete(id);
        if (ws) {
          try {
            ws.close(code, reason);
          } catch {}
        }
      },
    };
    const err = this.go.open(this.objectId, host);
    if (err) throw new Error("relay: " + err);
    // Sockets accepted before this object hibernated: their sessions come
    // back from the hello each one was opened with.
    for (const ws of this.ctx.getWebSockets()) {
      const a = ws.deserializeAttachment();
      if (!a || !a.id) continue;
      this.sockets.set(a.id, ws);
      if (a.hello) this.go.restore(this.objectId, a.id, a.hello);
      else this.go.connect(this.objectId, a.id);
    }
    // Presence: the users counted online by this object's earlier
    // incarnation are now exactly those of the sessions restored above.
    this.go.settle(this.objectId);
  }

  async fetch(request) {
    fireDueTimers();
    const url = new URL(request.url);
    if (url.pathname === "/v1/ws") {
      if ((request.headers.get("Upgrade") || "").toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade\n", { status: 426 });
      }
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server);
      const id = crypto.randomUUID();
      server.serializeAttachment({ id });
      this.sockets.set(id, server);
      this.go.connect(this.objectId, id);
      return new Response(null, { status: 101, webSocket: client });
    }
    // What the front door forwards: /healthz and the admin API (its body
    // is at most 1 MiB, cut there by the front door).
    const body = request.method === "GET" || request.method === "HEAD" ? null : new Uint8Array(await request.arrayBuffer());
    const res = await this.go.http(this.objectId, request.method, url.pathname + url.search, [...request.headers], body);
    const empty = res.status === 204 || res.status === 205 || res.status === 304;
    return new Response(empty ? null : res.body, { status: res.status, headers: res.headers });
  }

  // The front door's upload handler asks these (Workers RPC, which no
  // client can reach): whether a user may download an attachment of a
  // conversation, whether a user is a party of a conversation now, and
  // whether an upload is within the user's limits (0, or the ms to wait),
  // which this object keeps across requests; and it records each upload
  // under its uploader in this object's store, so that deleting the user
  // deletes it.
  async mayDownload(user, conv, id) {
    fireDueTimers();
    return this.go.mayDownload(this.objectId, String(user), String(conv), String(id));
  }

  async isParty(user, conv) {
    fireDueTimers();
    return this.go.isParty(this.objectId, String(user), String(conv));
  }

  async admitUpload(user, size) {
    fireDueTimers();
    return this.go.admitUpload(this.objectId, String(user), Number(size));
  }

  async signIn(user, token) {
    fireDueTimers();
    return this.go.signIn(this.objectId, String(user), String(token));
  }

  async recordUpload(user, id) {
    fireDueTimers();
    return this.go.recordUpload(this.objectId, String(user), String(id));
  }

  // A frame is handled by the relay after the socket's earlier ones; one
  // that waits for R2 (a message naming an attachment) does not hold up
  // other sockets.
  async webSocketMessage(ws, message) {
    fireDueTimers();
    const a = ws.deserializeAttachment();
    if (!a || !a.id) return;
    if (!this.sockets.has(a.id)) this.sockets.set(a.id, ws);
    const binary = typeof message !== "string";
    const bytes = binary ? new Uint8Array(message) : new TextEncoder().encode(message);
    const save = await this.go.frame(this.objectId, a.id, bytes, binary);
    if (save) {
      try {
        ws.serializeAttachment({ id: a.id, hello: save });
      } catch {} // closed meanwhile
    }
  }

  webSocketClose(ws, code, reason) {
    this.gone(ws);
    try {
      ws.close(code, reason);
    } catch {}
  }

  webSocketError(ws) {
    this.gone(ws);
  }

  gone(ws) {
    fireDueTimers();
    const a = ws.deserializeAttachment();
    if (!a || !a.id) return;
    this.sockets.delete(a.id);
    this.go.gone(this.objectId, a.id);
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/v1/ws") {
      return env.RELAY.get(env.RELAY.idFromName(RELAY_OBJECT)).fetch(request);
    }
    return frontDoor.fetch(request, env, ctx);
  },
};
