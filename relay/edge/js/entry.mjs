// The Worker's entry: the front door, the relay's shards and its stores.
//
// Everything but the WebSocket goes to the Go front door (github.com/syumai/
// workers: a Go instance per request, stateless). /v1/ws goes to one of the
// Shard Durable Objects, chosen by the user the URL names (?user=ID, which
// the SDK adds; the hello's token still decides who the user is, and a
// shard refuses a user it does not serve with 4015): every connection of a
// user lands on the same shard. A shard accepts the socket with the
// hibernation API and hands each binary frame to the relay's Go code — its
// own relay.Server, whose store is the Store objects, reached over Workers
// RPC (relay.RemoteStore for each, relay.PartitionStore over them), and
// whose bus is the other shards, reached the same way (relay.ShardBus): a
// message to a user on another shard is pushed to that shard through its
// stub. Each Store object holds one partition of the relay's SQLite store
// (a conversation lives whole in the partition its id hashes to; partition
// 0 also holds what is a user's) and answers the shards' store calls
// (relay.StoreServer).
//
// ONE long-lived Go instance per isolate (the same app.wasm, started in
// its "objects" role) serves every object in the isolate, keyed by object
// id. An object constructed again after hibernation or eviction reopens
// from storage (a shard: its sockets' sessions from their attachments);
// no Go instance is ever started per message.
import frontDoor from "./worker.mjs"; // syumai/workers' entry (defines globalThis.Go)
import mod from "./app.wasm";
import { DurableObject } from "cloudflare:workers";
import { sqlHost } from "./storage.mjs";
import { shardCount, shardOf, storeCount } from "./shard.mjs";

// The store objects' names. Partition 0 (the directory, and the
// conversations that hash to it) is "relay", the name of the single object
// that served everything in earlier versions, so that an upgrade keeps its
// data (wrangler.jsonc renames the class); partition i is "store:i".
function storeName(part) {
  return part === 0 ? "relay" : "store:" + part;
}

function storeStub(env, part) {
  return env.STORE.get(env.STORE.idFromName(storeName(part)));
}

function shardStub(env, i) {
  return env.SHARDS.get(env.SHARDS.idFromName("shard:" + i));
}

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
// The objects of this isolate (shards and the store): one Go instance
// serves them all, so a new deferred timer arms the alarm of each it can
// (an alarm that rings early only fires what is due and re-arms): at least
// that of the object whose event runs now, as another object's storage
// cannot be used in it (see withEnv).
const objects = new Set();
function armAll(due) {
  for (const o of objects) {
    try {
      o.armAlarm(due);
    } catch {} // another object's: its own events arm it
  }
}

// withEnv calls f with the env (bindings) of an object of this isolate
// whose event is running now: preferred's, else another's. The Go instance
// runs whatever is due when any object's event hands it control, so a
// shard's store call or fan-out may be made while another object's event
// runs, and a Durable Object's bindings (like its sockets and storage) can
// be used only in its own events: trying one object's where another's is
// current throws at once, before anything is done.
function withEnv(preferred, f) {
  let first;
  for (const o of [preferred, ...[...objects].filter((o) => o !== preferred)]) {
    try {
      return f(o.env);
    } catch (e) {
      first ??= e;
    }
  }
  throw first;
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

// RelayObject is what the shards and the store share: their place among
// this isolate's objects (objects), whose alarms drive the Go instance's
// long timers.
class RelayObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.objectId = ctx.id.toString();
    this.alarmAt = undefined; // when this object's alarm is set to ring, as this instance set it
    // An earlier incarnation of the same object (evicted, constructed
    // again) is gone: its bindings, storage and sockets are unusable.
    for (const o of objects) if (o.objectId === this.objectId) objects.delete(o);
    objects.add(this);
  }

  // armAlarm makes the object's alarm ring no later than due (ms since the
  // epoch); without due, at the earliest deferred timer.
  armAlarm(due = nextDue()) {
    if (due === undefined) return;
    if (this.alarmAt !== undefined && this.alarmAt > Date.now() && this.alarmAt <= due) return;
    this.ctx.storage.setAlarm(due);
    this.alarmAt = due;
  }

  // alarm rings at the earliest deferred timer (or after an eviction, when
  // the timers it was set for are gone with the Go instance: the restored
  // sessions then have new ones): fire what is due and set the next one.
  async alarm() {
    this.alarmAt = undefined;
    fireDueTimers();
    this.armAlarm();
  }
}

// Shard holds the WebSockets of the users that hash to it (shardOf) and
// runs a relay.Server for them. Its index is given by whoever calls it
// first (the front door, another shard, the store) and kept in its
// storage, for the constructions that only a socket event causes.
export class Shard extends RelayObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sockets = new Map(); // connection id → WebSocket
    this.index = undefined; // which shard this is, once known
    this.opened = undefined; // Promise of the relay's opening, once begun
    this.pending = []; // socket ops queued for this shard's own event: [ws, op]
    ctx.blockConcurrencyWhile(async () => {
      this.go = await goRelay(this.env);
      this.index = await this.ctx.storage.get("shard");
      if (this.index !== undefined && this.index >= shardCount(this.env)) return this.removed();
      if (this.index !== undefined) await this.open(this.index);
    });
  }

  // removed ends a shard that PARLEY_SHARDS no longer counts (made smaller;
  // woken by its alarm or a socket kept across hibernation): it opens no
  // relay, closes the sockets it still holds so that their clients
  // reconnect to their new shards (1012: service restart), and stops its
  // alarm. Its users' presence counts go with the store's next start
  // (the store drops the lease of a shard that is gone).
  async removed() {
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(1012, "shard removed: reconnect");
      } catch {}
    }
    await this.ctx.storage.deleteAlarm();
  }

  // ready opens this shard's relay, as shard index, unless it is open.
  async ready(index) {
    if (index !== undefined && this.index === undefined) {
      this.index = index;
      await this.ctx.storage.put("shard", index);
    }
    if (this.index === undefined) throw new Error("shard: opened before its index is known");
    if (this.index >= shardCount(this.env)) throw new Error(`shard ${this.index} is not one of the ${shardCount(this.env)} shards`);
    if (index !== undefined && index !== this.index) throw new Error(`shard ${this.index} called as shard ${index}`);
    return this.open(this.index);
  }

  open(index) {
    if (!this.opened) {
      this.opened = this.boot(index);
      this.opened.catch(() => (this.opened = undefined));
    }
    return this.opened;
  }

  async boot(index) {
    const env = this.env;
    const host = {
      send: (id, frame) => this.perform(id, (ws) => ws.send(frame)),
      close: (id, code, reason) => {
        this.perform(id, (ws) => ws.close(code, reason));
        this.sockets.delete(id);
      },
      // A store call to partition part: its Store object answers every
      // call with bytes.
      store: (part, method, req) =>
        withEnv(this, (env) => storeStub(env, part).call(part, storeCount(env), method, req)),
      // A batch of fan-out for the users of shard `to`.
      deliver: (to, batch) => withEnv(this, (env) => shardStub(env, to).deliver(to, batch)),
    };
    const err = await this.go.openShard(this.objectId, index, shardCount(env), storeCount(env), host);
    if (err) throw new Error("relay shard: " + err);
    // Sockets accepted before this object hibernated: their sessions come
    // back from the hello each one was opened with. Presence: the users
    // counted online by this shard's earlier incarnation are then exactly
    // those of the sessions restored (settle).
    const restored = [];
    for (const ws of this.ctx.getWebSockets()) {
      const a = ws.deserializeAttachment();
      if (!a || !a.id) continue;
      this.sockets.set(a.id, ws);
      this.go.connect(this.objectId, a.id);
      if (a.hello) restored.push(this.go.restore(this.objectId, a.id, a.hello));
    }
    Promise.allSettled(restored).then(() => this.go.settle(this.objectId));
  }

  // perform does op to the socket of connection id. The one Go instance of
  // the isolate runs whatever is due when any object's event hands it
  // control, so a frame for this shard's socket may be written while
  // another object's event runs (a session's timer, a goroutine woken by
  // another object's answer); a Durable Object's sockets can be used only
  // in its own events. Such an op is queued, with every later one (their
  // order kept), and this shard is called (flush) to do them in its own.
  perform(id, op) {
    const ws = this.sockets.get(id);
    if (!ws) return;
    if (this.pending.length === 0) {
      try {
        op(ws);
        return;
      } catch {
        let open = true; // another object's event: its socket cannot even be read
        try {
          open = ws.readyState === WebSocket.OPEN;
        } catch {}
        if (!open) return; // closed meanwhile
      }
    }
    this.pending.push([ws, op]);
    if (this.pending.length === 1) {
      const index = this.index;
      let call;
      try {
        call = withEnv(this, (env) => shardStub(env, index).flush(index));
      } catch (e) {
        call = Promise.reject(e);
      }
      call.catch((e) => {
        console.log(`shard ${this.index}: flushing ${this.pending.length} socket writes failed: ${e && e.message}`);
        this.pending = [];
      });
    }
  }

  // flush does, in this shard's own event, the socket ops queued from
  // other objects' events (perform).
  async flush(index) {
    await this.ready(Number(index));
    const ops = this.pending;
    this.pending = [];
    for (const [ws, op] of ops) {
      try {
        op(ws);
      } catch {} // closed meanwhile
    }
  }

  async fetch(request) {
    fireDueTimers();
    const url = new URL(request.url);
    await this.ready(Number(request.headers.get("X-Parley-Shard")));
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

  // deliver hands this shard a batch of another shard's fan-out
  // (relay.ShardBus).
  async deliver(index, batch) {
    fireDueTimers();
    await this.ready(Number(index));
    const err = this.go.deliver(this.objectId, new Uint8Array(batch));
    if (err) throw new Error(err);
  }

  // wake opens the shard (the Store object wakes them all when it starts:
  // a shard whose sockets all died with the process it ran in settles its
  // users' presence only once it runs again).
  async wake(index) {
    fireDueTimers();
    await this.ready(Number(index));
  }

  // The front door's upload handler asks these of the shard of the user
  // concerned (Workers RPC, which no client can reach): whether a user may
  // download an attachment of a conversation, whether a user is a party
  // of a conversation now, whether an upload is within the user's limits
  // (0, or the ms to wait), which the user's shard keeps across requests,
  // whether the user may sign in; and it records each upload under its
  // uploader, so that deleting the user deletes it.
  async mayDownload(index, user, conv, id) {
    fireDueTimers();
    await this.ready(Number(index));
    return this.go.mayDownload(this.objectId, String(user), String(conv), String(id));
  }

  async isParty(index, user, conv) {
    fireDueTimers();
    await this.ready(Number(index));
    return this.go.isParty(this.objectId, String(user), String(conv));
  }

  async admitUpload(index, user, size) {
    fireDueTimers();
    await this.ready(Number(index));
    return this.go.admitUpload(this.objectId, String(user), Number(size));
  }

  async signIn(index, user, token) {
    fireDueTimers();
    await this.ready(Number(index));
    return this.go.signIn(this.objectId, String(user), String(token));
  }

  async recordUpload(index, user, id) {
    fireDueTimers();
    await this.ready(Number(index));
    return this.go.recordUpload(this.objectId, String(user), String(id));
  }

  // A frame is handled by the relay after the socket's earlier ones; one
  // that waits for R2 (a message naming an attachment) or for the store
  // does not hold up other sockets.
  async webSocketMessage(ws, message) {
    fireDueTimers();
    await this.ready();
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

  async webSocketClose(ws, code, reason) {
    await this.gone(ws);
    try {
      ws.close(code, reason);
    } catch {}
  }

  async webSocketError(ws) {
    await this.gone(ws);
  }

  async gone(ws) {
    fireDueTimers();
    await this.ready();
    const a = ws.deserializeAttachment();
    if (!a || !a.id) return;
    this.sockets.delete(a.id);
    this.go.gone(this.objectId, a.id);
  }
}

// Store holds one partition of the relay's store: the relay's SQLite store
// on this object's storage (ctx.storage.sql), answering the shards' store
// calls. Partition 0 (the object named "relay") also holds everything that
// is a user's rather than a conversation's; the conversations are spread
// over the PARLEY_STORES partitions by their ids (relay.PartitionStore,
// on the shards). Its partition is given by its first call and kept in
// its storage. It holds no socket; its alarm, like a shard's, fires the
// Go instance's due timers.
export class Store extends RelayObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.part = undefined; // which partition this is, once known
    this.opened = undefined; // Promise of the store's opening, once begun
    ctx.blockConcurrencyWhile(async () => {
      this.go = await goRelay(this.env);
      this.part = await this.ctx.storage.get("partition");
      if (this.part !== undefined) await this.open(this.part);
    });
  }

  // ready opens this store as partition part of parts, unless it is open.
  async ready(part, parts) {
    if (this.part === undefined) {
      this.part = part;
      await this.ctx.storage.put("partition", part);
    }
    if (part !== this.part) throw new Error(`store partition ${this.part} called as partition ${part}`);
    if (parts !== storeCount(this.env)) throw new Error(`store called for ${parts} partitions, configured for ${storeCount(this.env)}`);
    return this.open(part);
  }

  open(part) {
    if (!this.opened) {
      this.opened = this.boot(part);
      this.opened.catch(() => (this.opened = undefined));
    }
    return this.opened;
  }

  async boot(part) {
    const env = this.env;
    const parts = storeCount(env);
    let shards = shardCount(env);
    let before = shards;
    if (part === 0) {
      // The partition count the deployment was created with, which cannot
      // change (a conversation is where its id hashes); and the shard
      // count the store last ran with: when it was larger, the leases of
      // the shards gone are dropped (once).
      const recorded = await this.ctx.storage.get("partitions");
      const ran = await this.ctx.storage.get("shards");
      before = ran ?? shards;
      const err = this.go.openStore(this.objectId, sqlHost(this.ctx.storage), shards, before, part, parts, recorded ?? -1);
      if (err) throw new Error("relay store: " + err);
      if (recorded !== parts) await this.ctx.storage.put("partitions", parts);
      if (ran !== shards) await this.ctx.storage.put("shards", shards);
      // Every shard runs again: one whose process died with its sockets
      // counts its users offline only when it next runs (its settle). Not
      // awaited: a shard's first call may be what started this object.
      for (let i = 0; i < shards; i++) shardStub(env, i).wake(i).catch((e) => console.log(`waking shard ${i}: ${e && e.message}`));
      return;
    }
    const err = this.go.openStore(this.objectId, sqlHost(this.ctx.storage), shards, before, part, parts, parts);
    if (err) throw new Error("relay store: " + err);
  }

  // call answers one relay.RemoteStore call (method, CBOR request) to
  // partition part of parts with its CBOR answer; refusals and failures
  // are in the answer.
  async call(part, parts, method, req) {
    fireDueTimers();
    await this.ready(Number(part), Number(parts));
    return this.go.storeCall(this.objectId, String(method), new Uint8Array(req));
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/v1/ws") {
      // The user's shard. Without ?user=, shard 0, which refuses (4015)
      // the users it does not serve.
      const user = url.searchParams.get("user");
      let n;
      try {
        n = shardCount(env);
      } catch (e) {
        return new Response(e.message + "\n", { status: 500 });
      }
      const i = user === null ? 0 : shardOf(user, n);
      const req = new Request(request);
      req.headers.set("X-Parley-Shard", String(i));
      return shardStub(env, i).fetch(req);
    }
    return frontDoor.fetch(request, env, ctx);
  },
};
