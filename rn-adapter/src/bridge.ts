/**
 * `@parley-im/react-native/bridge`: the client side of the bridge to the
 * host page, with no import from React Native. `<ParleyHost />` and
 * `createClient` of the main entry are this over a WebView; tests and other
 * hosts pass their own {@link Transport}.
 *
 * ```ts
 * import { createClient } from '@parley-im/react-native/bridge';
 * const client = await createClient({ url, token }, { transport });
 * ```
 * @packageDocumentation
 */
import type { Call, CallEndReason, CallEvents, CallMedia, CallOptions, CallState, ClientEventName, ClientEvents, ClientOptions, LogLevel, Message, ParleyClient } from '@parley-im/sdk';
import { Codes, ParleyError } from '@parley-im/sdk/errors';
import {
  VERSIONS,
  choose,
  decode,
  decodeValue,
  encode,
  encodeValue,
  type FromPage,
  type Props,
  type ToPage,
  type WireError,
} from './protocol.js';

/**
 * Transport carries the bridge's strings between React Native and the host
 * page: `postMessage` reaches the page as a `message` event, `onMessage`
 * gets what the page passed to `window.ReactNativeWebView.postMessage`.
 * Delivery may be asynchronous but must keep order.
 */
export interface Transport {
  postMessage(data: string): void;
  /** Registers a handler and returns its removal. */
  onMessage(handler: (data: string) => void): () => void;
}

/** The part of React Native's `AppState` the bridge uses (React Native's own object fits). */
export interface AppStateLike {
  readonly currentState?: string | null;
  addEventListener(type: 'change', handler: (state: string) => void): { remove(): void };
}

/** What {@link createClient} runs over. One bridge serves every client on the same transport. */
export interface BridgeEnv {
  transport: Transport;
  /**
   * Pauses the clients when the app goes to the background (each is closed
   * in the page: pending sends stay in its outbox) and resumes them when it
   * is active again (reopened, reconnected, resynced). A client created while
   * `currentState` is `'background'` starts paused. Defaults to none: the
   * clients stay as they are.
   */
  appState?: AppStateLike;
  /** How long createClient waits for the host page to answer. Defaults to 30 000 ms. */
  hostTimeoutMs?: number;
  /** Diagnostics of the bridge itself: strings it ignored, replies nobody waits for. Defaults to none. */
  logger?: (level: Exclude<LogLevel, 'silent'>, message: string) => void;
}

/**
 * The options of `@parley-im/sdk`'s createClient that can cross to the page:
 * the same, without the host primitives (the page has its own WebSocket and
 * WebAssembly) and with the built-in storages only (IndexedDB by default, in
 * the page).
 */
export type BridgeClientOptions = Omit<ClientOptions, 'WebSocket' | 'instantiate' | 'wasmUrl' | 'storage'> & {
  /** `'indexeddb'` (the default, in the page; survives a restart of the WebView) or `'memory'`. */
  storage?: 'indexeddb' | 'memory';
  /** Where the page loads parley.wasm from, relative to the page. Defaults to the copy beside it. */
  wasmUrl?: string;
};

/**
 * createClient opens a client in the host page and returns it with the
 * `ParleyClient` type of `@parley-im/sdk`: every method and getter of the
 * page's client is there, methods forwarded over the transport, getters
 * from the page's last word. It waits for the page (up to
 * `env.hostTimeoutMs`) and rejects with the page's ParleyError on bad
 * options, with 4005 (UnsupportedVersion) when the page speaks no version of
 * the bridge this package speaks, and with 4902 (RequestTimeout) when the
 * page never answers.
 */
export async function createClient(options: BridgeClientOptions, env: BridgeEnv): Promise<ParleyClient> {
  if (typeof env !== 'object' || env === null || !isTransport(env.transport)) {
    throw invalid('createClient needs { transport } with postMessage(string) and onMessage(handler)');
  }
  const opts = checkOptions(options);
  const conn = connectionFor(env);
  await conn.whenReady(env.hostTimeoutMs ?? 30000);
  return conn.open(opts);
}

// ---------------------------------------------------------------------------

/** What a method does with a call that was in flight when the page went away. */
const REPLAY = new Set(['connect', 'conversations', 'conversation', 'totalUnread', 'messages', 'history', 'search', 'markRead', 'waitSynced', 'resend', 'discard', 'createGroup',
  'requestContact', 'removeContact', 'contacts', 'relations', 'block', 'unblock', 'blocked', 'setContactsOnly', 'contactsOnly', 'setConversation', 'setDraft',
  'readReceipts',

  'setStatus', 'subscribePresence', 'unsubscribePresence', 'setProfile', 'profiles', 'devices']);
const SENDS = new Set(['send', 'sendText']);
/** Methods answered here: they are synchronous in the SDK, or only about this side. */
const LOCAL = new Set(['on', 'once', 'off', 'p2p', 'reconnect', 'typing', 'call', 'close']);
/** The SDK's event names; the compiler checks the list against ClientEventName both ways. */
const EVENT_LIST = ['call', 'state', 'message', 'messageUpdate', 'conversation', 'syncStart', 'syncEnd', 'kicked', 'tokenWillExpire', 'reset', 'typing', 'contactRequest', 'contactAnswer', 'contact', 'totalUnread', 'invitation', 'joinRequest', 'presence', 'profile'] as const;
const _everyEvent: [(typeof EVENT_LIST)[number]] extends [ClientEventName] ? ([ClientEventName] extends [(typeof EVENT_LIST)[number]] ? true : false) : false = true;
void _everyEvent;
const EVENTS: ReadonlySet<string> = new Set(EVENT_LIST);

const connections = new WeakMap<Transport, Connection>();

function connectionFor(env: BridgeEnv): Connection {
  let c = connections.get(env.transport);
  if (!c) {
    c = new Connection(env);
    connections.set(env.transport, c);
  }
  return c;
}

/** A call of the application: settled once, whatever happens to the page meanwhile. */
interface AppCall {
  seq: number;
  m: string;
  a: unknown[];
  /** When it was made (for telling its outbox entry from older ones). */
  since: number;
  /** The outbox entry a send became, once the page said so. */
  clientId?: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** One request on the wire, to one page (boot). */
interface Wire {
  boot: string;
  core: ClientCore;
  call?: AppCall;
  internal?: { resolve(v: unknown): void; reject(e: unknown): void };
  /** Called on accepted, result, or when the page went away. */
  wake?: () => void;
}

class Stale extends Error {
  constructor() {
    super('the host page went away');
  }
}

class Connection {
  version = 0;
  boot = '';
  #incompatible: ParleyError | null = null;
  #waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  #nextId = 1;
  #nextClient = 1;
  seq = 0;
  readonly wires = new Map<number, Wire>();
  readonly clients = new Map<number, ClientCore>();

  /** The app is in the background: clients opened now start paused. */
  #background: boolean;

  constructor(private readonly env: BridgeEnv) {
    env.transport.onMessage((data) => this.receive(data));
    // An app can start in the background (a background fetch, a push):
    // its clients wait for the foreground as those of an app sent there do.
    this.#background = env.appState?.currentState === 'background';
    env.appState?.addEventListener('change', (s) => {
      if (s === 'background') {
        this.#background = true;
        for (const c of this.clients.values()) c.pause();
      } else if (s === 'active') {
        this.#background = false;
        for (const c of this.clients.values()) c.resume();
      }
    });
    this.postRaw(1, { t: 'hello', vs: [...VERSIONS] });
  }

  log(level: Exclude<LogLevel, 'silent'>, message: string): void {
    try {
      this.env.logger?.(level, message);
    } catch {
      /* a logger must not break the bridge */
    }
  }

  whenReady(timeoutMs: number): Promise<void> {
    if (this.#incompatible) return Promise.reject(this.#incompatible);
    if (this.version) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new ParleyError(Codes.RequestTimeout, `the host page did not answer within ${timeoutMs} ms: is <ParleyHost /> mounted, and does its source load?`));
      }, timeoutMs);
      this.#waiters.push(w);
      // The page may have loaded before anyone listened: ask again.
      this.postRaw(1, { t: 'hello', vs: [...VERSIONS] });
    });
  }

  async open(opts: CheckedOptions): Promise<ParleyClient> {
    const core = new ClientCore(this, this.#nextClient++, opts);
    this.clients.set(core.c, core);
    if (this.#background) core.pause();
    try {
      for (;;) {
        try {
          await core.openHere();
          break;
        } catch (e) {
          if (!(e instanceof Stale)) throw e;
          await this.whenReady(this.env.hostTimeoutMs ?? 30000); // the page restarted during the open: again on the new one
        }
      }
    } catch (e) {
      this.clients.delete(core.c);
      throw e;
    }
    core.firstOpened();
    return core.proxy;
  }

  nextId(): number {
    return this.#nextId++;
  }

  post(msg: ToPage): void {
    this.postRaw(this.version, msg);
  }

  postRaw(v: number, msg: ToPage): void {
    try {
      this.env.transport.postMessage(encode(v, msg));
    } catch (e) {
      // A WebView that is gone: the request stays in flight and is settled
      // when the next page says ready.
      this.log('warn', `postMessage failed: ${String(e)}`);
    }
  }

  receive(data: unknown): void {
    const d = decode<FromPage>(data);
    if (!d) {
      this.log('debug', `ignored a string that is not a bridge message: ${preview(data)}`);
      return;
    }
    const { msg } = d;
    if (msg.t === 'ready') {
      this.ready(msg.vs, msg.boot);
      return;
    }
    if (d.v !== this.version || this.version === 0) {
      this.log('debug', `ignored a "${msg.t}" in bridge version ${d.v} (agreed: ${this.version || 'none'})`);
      return;
    }
    switch (msg.t) {
      case 'result':
        this.result(msg);
        return;
      case 'event':
        this.clients.get(msg.c)?.event(msg.ev, msg.p, msg.s);
        return;
      case 'accepted': {
        const w = this.wires.get(msg.id);
        if (w?.call) w.call.clientId = msg.clientId;
        w?.wake?.();
        return;
      }
      case 'ask':
        this.ask(msg.id, msg.c, msg.m);
        return;
      case 'log':
        this.clients.get(msg.c)?.log(msg.level, msg.message);
        return;
      default:
        this.log('debug', `ignored a bridge message of unknown type "${(msg as { t: string }).t}"`);
    }
  }

  ready(vs: number[], boot: string): void {
    const v = choose(VERSIONS, vs);
    if (v === 0) {
      this.version = 0;
      this.#incompatible = new ParleyError(
        Codes.UnsupportedVersion,
        `the host page speaks bridge version ${vs.join(', ')}; this @parley-im/react-native speaks ${VERSIONS.join(', ')}: ship the host page of the same release`,
      );
      for (const w of this.#waiters.splice(0)) w.reject(this.#incompatible);
      this.dropWires(boot);
      return;
    }
    this.#incompatible = null;
    this.version = v;
    if (boot === this.boot) return; // an answer to a repeated hello
    const first = this.boot === '';
    this.boot = boot;
    for (const w of this.#waiters.splice(0)) w.resolve();
    if (first) return;
    // A new page: whatever was in flight went with the old one.
    this.log('info', 'the host page restarted: reopening the clients');
    this.dropWires(boot);
    for (const c of this.clients.values()) c.restarted();
  }

  dropWires(boot: string): void {
    for (const [id, w] of this.wires) {
      if (w.boot === boot) continue;
      this.wires.delete(id);
      if (w.call) w.core.interrupt(w.call);
      w.internal?.reject(new Stale());
      w.wake?.();
    }
  }

  result(msg: Extract<FromPage, { t: 'result' }>): void {
    const w = this.wires.get(msg.id);
    if (!w) {
      this.log('debug', `ignored the reply to request ${msg.id}, which nobody waits for`);
      return;
    }
    this.wires.delete(msg.id);
    w.core.setProps(msg.s);
    if (msg.ok) {
      const r = decodeValue(msg.r);
      w.internal?.resolve(r);
      if (w.call) w.core.settled(w.call, true, r);
    } else {
      const e = toError(msg.e);
      w.internal?.reject(e);
      if (w.call) w.core.settled(w.call, false, e);
    }
    w.wake?.();
  }

  ask(id: number, c: number, m: string): void {
    const core = this.clients.get(c);
    const answer = (p: Promise<unknown>) =>
      p.then(
        (r) => this.post({ t: 'answer', id, ok: true, r: encodeValue(r) }),
        (e) => this.post({ t: 'answer', id, ok: false, e: toWire(e) }),
      );
    if (!core || m !== 'token') {
      void answer(Promise.reject(new ParleyError(Codes.InvalidArgument, `the page asked for "${m}" of client ${c}, which React Native cannot answer`)));
      return;
    }
    void answer(core.token());
  }
}

type CheckedOptions = { wire: Record<string, unknown>; token: BridgeClientOptions['token']; logger: BridgeClientOptions['logger'] };

/** The state of one client on this side. */
class ClientCore {
  readonly proxy: ParleyClient;
  props: Props = { state: 'idle', userId: '', deviceId: '' };
  methods = new Set<string>();
  getters = new Set<string>();
  readonly #handlers = new Map<string, Set<(p: never) => void>>();
  readonly #calls = new Set<AppCall>();
  #interrupted: AppCall[] = [];
  #queued: AppCall[] = [];
  /** clientIds of sends that completed lately: never another send's outbox entry. */
  #recent: { clientId: string; at: number }[] = [];
  #forwarders = new Map<string, (...a: unknown[]) => Promise<unknown>>();
  #live = false;
  #paused = false;
  #closed = false;
  #wantConnected = false;
  /** Set once the first open succeeded; until then createClient's own loop retries. */
  opened = false;
  /** Why the client could not be reopened: calls reject with it until a later reopen works. */
  #broken: unknown = null;
  /** Bumped whenever the page's client goes away (restart, pause), so a reopen in progress stops. */
  #epoch = 0;

  constructor(
    private readonly conn: Connection,
    readonly c: number,
    private readonly opts: CheckedOptions,
  ) {
    if (typeof opts.token === 'string') this.#tokenUser = tokenSubject(opts.token);
    const local: Record<string, unknown> = {
      on: this.on.bind(this),
      once: this.once.bind(this),
      off: this.off.bind(this),
      p2p: this.p2p.bind(this),
      reconnect: this.reconnect.bind(this),
      typing: this.typing.bind(this),
      call: this.placeCall.bind(this),
      close: this.close.bind(this),
    };
    this.proxy = new Proxy(Object.create(null) as object, {
      get: (_, name) => {
        if (typeof name !== 'string') return undefined;
        if (LOCAL.has(name) && (this.methods.has(name) || name === 'on' || name === 'close')) return local[name];
        if (this.getters.has(name)) return name === 'state' && this.#closed ? 'closed' : this.props[name];
        if (this.methods.has(name)) return this.forwarder(name);
        return undefined;
      },
      has: (_, name) => typeof name === 'string' && (this.getters.has(name) || this.methods.has(name) || name === 'on' || name === 'close'),
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
      ownKeys: () => [...this.getters, ...this.methods],
      getOwnPropertyDescriptor: (_, name) => {
        if (typeof name !== 'string' || !(this.getters.has(name) || this.methods.has(name))) return undefined;
        const value = this.getters.has(name) ? this.props[name] : this.methods.has(name) && LOCAL.has(name) ? local[name] : this.forwarder(name);
        return { value, writable: false, enumerable: true, configurable: true };
      },
    }) as ParleyClient;
  }

  get live(): boolean {
    return this.#live;
  }

  // --- opening, here and after a restart or a pause -------------------------

  /** openHere opens the client in the current page; rejects with Stale when the page goes away meanwhile. */
  async openHere(): Promise<void> {
    const r = (await this.internal({
      t: 'open',
      id: 0,
      c: this.c,
      o: encodeValue(this.opts.wire),
      tf: typeof this.opts.token === 'function',
      lg: true,
      // kicked always: it ends the app's wish to be connected, which a
      // reopen (foreground, a new page) would otherwise act on.
      ev: [...new Set(['kicked', ...this.#handlers.keys()])],
    })) as { methods?: unknown; getters?: unknown } | undefined;
    const names = (x: unknown) => (Array.isArray(x) ? x.filter((n): n is string => typeof n === 'string') : []);
    this.methods = new Set(names(r?.methods));
    this.getters = new Set(names(r?.getters));
  }

  /** internal sends a request of the bridge's own (open, pause, …) to the current page. */
  internal(msg: Extract<ToPage, { id: number }>, boot = this.conn.boot): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (boot !== this.conn.boot) {
        reject(new Stale());
        return;
      }
      const id = this.conn.nextId();
      this.conn.wires.set(id, { boot, core: this, internal: { resolve, reject } });
      this.conn.post({ ...msg, id } as ToPage);
    });
  }

  firstOpened(): void {
    this.opened = true;
    if (this.#paused) {
      this.quietInPage('$pause');
      return;
    }
    this.#live = true;
  }

  restarted(): void {
    if (!this.opened) return;
    this.#epoch++;
    this.#live = false;
    if (this.#closed) {
      this.finishClosed();
      return;
    }
    this.endCalls('failed'); // their media and peer connections went with the page
    if (this.#paused) return; // reopened on resume
    this.synthState('reconnecting', 'the host page restarted');
    void this.reopen();
  }

  pause(): void {
    if (this.#closed || this.#paused) return;
    this.#paused = true;
    this.#epoch++;
    const wasLive = this.#live;
    this.#live = false;
    for (const [id, w] of this.conn.wires) {
      if (w.core !== this || !w.call) continue;
      this.conn.wires.delete(id);
      this.interrupt(w.call);
      w.wake?.();
    }
    // Closed in the page: the outbox is flushed to IndexedDB, the socket
    // closed normally; the relay forgets the session at once. (A reopen in
    // progress does this itself when it finishes.)
    if (wasLive) this.quietInPage('$pause');
    this.endCalls('failed'); // the page's client closes, and its calls with it
    this.synthState('disconnected', 'the app is in the background');
  }

  resume(): void {
    if (this.#closed || !this.#paused) return;
    this.#paused = false;
    if (!this.opened) return; // createClient's open goes on
    this.#epoch++;
    void this.reopen();
  }

  /** reopen opens the client again in the current page, reconnects it and settles what was interrupted. */
  async reopen(): Promise<void> {
    const epoch = this.#epoch;
    const gone = () => epoch !== this.#epoch || this.#closed;
    try {
      await this.openHere();
      if (gone()) {
        // Closed or paused while it opened: do not leave it open in the page.
        if (this.#closed || this.#paused) this.quietInPage(this.#closed ? 'close' : '$pause');
        return;
      }
      this.#broken = null;
      if (this.#wantConnected) {
        this.internal({ t: 'call', id: 0, c: this.c, m: 'connect', a: [] }).catch((e) => {
          if (!(e instanceof Stale)) this.log('warn', `reconnect after a restart: ${e instanceof Error ? e.message : String(e)}`);
        });
      }
      // In the order they were made: a send interrupted before another
      // stays before it.
      const list = this.#interrupted.splice(0).sort((x, y) => x.seq - y.seq);
      for (let i = 0; i < list.length; i++) {
        if (gone()) {
          this.#interrupted.push(...list.slice(i).filter((x) => this.#calls.has(x)));
          return;
        }
        const call = list[i]!;
        if (!this.#calls.has(call)) continue; // settled meanwhile
        if (SENDS.has(call.m)) await this.recoverSend(call);
        else if (REPLAY.has(call.m)) {
          this.#replayed.add(call);
          this.postCall(call);
        }
        else if (call.m === 'close') this.settled(call, true, undefined);
        else {
          this.settled(
            call,
            false,
            new ParleyError(Codes.Unavailable, `${call.m}() was in flight when the host page restarted; it may or may not have taken effect: try again`),
          );
        }
      }
      if (gone()) return;
      this.#live = true;
      // Subscriptions made since the open went out (the page ignores repeats).
      for (const ev of this.#handlers.keys()) this.conn.post({ t: 'sub', c: this.c, ev });
      for (const call of this.#queued.splice(0)) this.postCall(call);
    } catch (e) {
      if (e instanceof Stale || gone()) return; // the next restart or resume opens it
      this.log('error', `could not reopen the client in the host page: ${e instanceof Error ? e.message : String(e)}`);
      // Calls cannot reach a client that is not there: settle them.
      this.#broken = e;
      for (const call of [...this.#interrupted.splice(0), ...this.#queued.splice(0)]) this.settled(call, false, e);
    }
  }

  /**
   * recoverSend settles a send that was in flight when the page went away,
   * without sending it twice: the page looks for its outbox entry (by the
   * clientId it reported, or by content and time) and waits for that entry's
   * ack; only a send that never reached the outbox is sent again. Returns once
   * the page has tied the call to an entry, so the next send is recovered
   * after it.
   */
  async recoverSend(call: AppCall): Promise<void> {
    const now = Date.now();
    this.#recent = this.#recent.filter((x) => now - x.at < 10 * 60 * 1000);
    const exclude = [...this.#recent.map((x) => x.clientId)];
    for (const other of this.#calls) if (other !== call && other.clientId) exclude.push(other.clientId);
    const id = this.conn.nextId();
    await new Promise<void>((wake) => {
      this.conn.wires.set(id, { boot: this.conn.boot, core: this, call, wake });
      this.conn.post({
        t: 'call',
        id,
        c: this.c,
        m: '$recoverSend',
        a: [call.m, encodeValue(call.a), { since: call.since, clientId: call.clientId, exclude }],
      });
    });
  }

  /** quietInPage closes the page's client ($pause: without telling the application). */
  quietInPage(m: 'close' | '$pause'): void {
    this.internal({ t: 'call', id: 0, c: this.c, m, a: [] }).catch((e) => {
      if (!(e instanceof Stale)) this.conn.log('warn', `${m}: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  interrupt(call: AppCall): void {
    if (this.#calls.has(call) && !this.#interrupted.includes(call)) this.#interrupted.push(call);
  }

  finishClosed(): void {
    for (const call of [...this.#interrupted.splice(0), ...this.#queued.splice(0)]) {
      if (call.m === 'close') this.settled(call, true, undefined);
      else this.settled(call, false, new ParleyError(Codes.ClientClosed, 'the client was closed'));
    }
  }

  // --- calls -----------------------------------------------------------------

  forwarder(name: string): (...a: unknown[]) => Promise<unknown> {
    let f = this.#forwarders.get(name);
    if (!f) {
      f = (...args: unknown[]) => this.call(name, args);
      this.#forwarders.set(name, f);
    }
    return f;
  }

  call(m: string, a: unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ParleyError(Codes.ClientClosed, 'the client was closed'));
    if (this.#broken) return Promise.reject(this.#broken);
    if (m === 'connect') this.#wantConnected = true;
    return new Promise((resolve, reject) => {
      const call: AppCall = { seq: ++this.conn.seq, m, a, since: Date.now(), resolve, reject };
      this.#calls.add(call);
      if (this.#live) this.postCall(call);
      else this.#queued.push(call);
    });
  }

  postCall(call: AppCall): void {
    const id = this.conn.nextId();
    this.conn.wires.set(id, { boot: this.conn.boot, core: this, call });
    this.conn.post({ t: 'call', id, c: this.c, m: call.m, a: encodeValue(call.a) as unknown[] });
  }

  settled(call: AppCall, ok: boolean, v: unknown): void {
    if (!this.#calls.delete(call)) return;
    if (ok) {
      if (SENDS.has(call.m) && isMessage(v)) this.#recent.push({ clientId: v.clientId, at: Date.now() });
      call.resolve(v);
      return;
    }
    // A discard replayed after a restart whose entry is gone: the first
    // attempt did what was asked.
    if (call.m === 'discard' && this.#replayed.has(call) && v instanceof ParleyError && v.code === Codes.InvalidArgument) {
      call.resolve(undefined);
      return;
    }
    if (call.m === 'connect' && v instanceof ParleyError && v.terminal) this.#wantConnected = false;
    call.reject(v);
  }

  readonly #replayed = new WeakSet<AppCall>();

  // --- local methods ---------------------------------------------------------

  on<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): () => void {
    if (typeof event !== 'string' || !EVENTS.has(event)) throw invalid(`on(): ${JSON.stringify(event)} is not an event; events: ${[...EVENTS].join(', ')}`);
    if (typeof handler !== 'function') throw invalid('on() needs a handler function');
    let hs = this.#handlers.get(event);
    if (!hs) {
      hs = new Set();
      this.#handlers.set(event, hs);
      if (this.#live) this.conn.post({ t: 'sub', c: this.c, ev: event });
    }
    const h = handler as (p: never) => void;
    hs.add(h);
    return () => {
      hs.delete(h);
    };
  }

  once<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): () => void {
    if (typeof handler !== 'function') throw invalid('once() needs a handler function');
    const wrapper = (p: ClientEvents[K]) => {
      this.#onceOf.delete(handler as (p: never) => void);
      off();
      handler(p);
    };
    const off = this.on(event, wrapper);
    this.#onceOf.set(handler as (p: never) => void, off);
    return off;
  }

  off<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): void {
    const h = handler as (p: never) => void;
    this.#handlers.get(event)?.delete(h);
    this.#onceOf.get(h)?.();
    this.#onceOf.delete(h);
  }

  readonly #onceOf = new Map<(p: never) => void, () => void>();

  /**
   * p2p answers as the SDK's does, here: the user is the page's, or before
   * the page knows it the token's subject (a fixed token's, or the last one
   * the token function gave), and the peer must be a valid user id.
   */
  p2p(peer: string): string {
    if (typeof peer !== 'string' || peer === '') throw invalid('p2p() needs the peer user id');
    const me = String(this.props.userId ?? '') || this.#tokenUser;
    if (!me) throw invalid('the user id is not known yet: connect first (or start from a cache)');
    if (!validName(peer)) throw invalid(`p2p(): ${JSON.stringify(peer)} is not a valid user id`);
    const [a, b] = me < peer ? [me, peer] : [peer, me];
    return `p:${a}:${b}`;
  }

  /** The subject of the token last known here: p2p's user until the page knows it. */
  #tokenUser = '';

  reconnect(): void {
    if (this.#closed || !this.#live) return; // a reopen connects anyway
    this.internal({ t: 'call', id: 0, c: this.c, m: 'reconnect', a: [] }).catch(() => {});
  }

  /**
   * placeCall is the client's call(). The call runs in the host page, where
   * getUserMedia and RTCPeerConnection are, and the page shows its media
   * (the WebView is the call screen); this side gets a {@link CallProxy}
   * with the Call interface, its state mirrored from the page's events and
   * its streams as descriptors ({ id, audio, video }).
   */
  async placeCall(userOrConversationId?: unknown, options?: unknown): Promise<Call> {
    // Arguments first, as the SDK checks them: a bad call is a bad call everywhere.
    if (typeof userOrConversationId !== 'string' || userOrConversationId === '') {
      throw invalid('call() needs a user id or a conversation id');
    }
    const snap = (await this.call('call', options === undefined ? [userOrConversationId] : [userOrConversationId, options])) as CallSnapshot;
    return this.callProxy(snap);
  }

  readonly #liveCalls = new Map<string, CallProxy>();
  /** Events of calls this side has no proxy of yet (a placed call's, before its result). */
  readonly #earlyCalls = new Map<string, { ev: string; p: unknown; call: CallSnapshot }[]>();

  callProxy(snap: CallSnapshot): CallProxy {
    let proxy = this.#liveCalls.get(snap.id);
    if (!proxy) {
      proxy = new CallProxy(this, snap);
      if (snap.state !== 'ended') this.#liveCalls.set(snap.id, proxy);
      for (const e of this.#earlyCalls.get(snap.id) ?? []) proxy.event(e.ev, e.p, e.call);
      this.#earlyCalls.delete(snap.id);
    }
    return proxy;
  }

  /** callEvent routes a '$call' event of the page to its proxy. */
  callEvent(p: unknown): void {
    const e = p as { id?: unknown; ev?: unknown; p?: unknown; call?: CallSnapshot };
    if (typeof e?.id !== 'string' || typeof e.ev !== 'string' || typeof e.call !== 'object' || e.call === null) return;
    const proxy = this.#liveCalls.get(e.id);
    if (!proxy) {
      const q = this.#earlyCalls.get(e.id) ?? [];
      if (q.length < 32) q.push({ ev: e.ev, p: e.p, call: e.call });
      this.#earlyCalls.set(e.id, q);
      if (this.#earlyCalls.size > 16) this.#earlyCalls.delete(this.#earlyCalls.keys().next().value as string);
      return;
    }
    proxy.event(e.ev, e.p, e.call);
    if (e.ev === 'ended') this.#liveCalls.delete(e.id);
  }

  /** endCalls ends every call of this side: the page that held them went away. */
  endCalls(reason: CallEndReason): void {
    for (const proxy of this.#liveCalls.values()) proxy.event('ended', { reason }, { ...proxy.snapshot(), state: 'ended' });
    this.#liveCalls.clear();
    this.#earlyCalls.clear();
  }

  /** callOp runs op on the page's call id. */
  callOp(id: string, op: string, args: unknown[]): Promise<unknown> {
    return this.call('$callOp', [id, op, ...args]);
  }

  /** typing is best-effort, as in the SDK: sent to the page without waiting, dropped while it is away. */
  typing(conversationId: string): void {
    if (typeof conversationId !== 'string' || conversationId === '') throw invalid('typing() needs a conversation id');
    if (this.#closed || !this.#live) return;
    this.internal({ t: 'call', id: 0, c: this.c, m: 'typing', a: [conversationId] }).catch(() => {});
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closing ?? Promise.resolve();
    this.#closed = true;
    this.#wantConnected = false;
    this.#closing = new Promise<unknown>((resolve, reject) => {
      const call: AppCall = { seq: ++this.conn.seq, m: 'close', a: [], since: Date.now(), resolve, reject };
      this.#calls.add(call);
      if (this.#live) this.postCall(call);
      else {
        // Paused, or the page restarting: there is no client in the page
        // to close (a reopen in progress closes the one it opens).
        this.settled(call, true, undefined);
      }
    }).then(
      () => {
        this.endCalls('failed');
        this.finishClosed();
      },
      (e) => {
        this.endCalls('failed');
        this.finishClosed();
        throw e;
      },
    );
    return this.#closing;
  }

  #closing: Promise<void> | null = null;

  // --- from the page ---------------------------------------------------------

  setProps(s: Props | undefined): void {
    if (!s || this.#paused) return;
    this.props = { ...this.props, ...s };
  }

  event(ev: string, p: unknown, s: Props | undefined): void {
    if (this.#closed && ev !== 'state') return;
    if (this.#paused && ev === 'state') return; // the page's client is closing: this side says "disconnected"
    this.setProps(s);
    // A terminal close (kicked, banned, a refused token): the SDK does not
    // reconnect, and neither does a reopen; connect() starts it again.
    if (ev === 'kicked') this.#wantConnected = false;
    if (ev === '$call') {
      this.callEvent(decodeValue(p));
      return;
    }
    if (ev === 'call') {
      const snap = decodeValue(p) as CallSnapshot;
      if (typeof snap?.id !== 'string') return;
      this.dispatch(ev, this.callProxy(snap));
      return;
    }
    this.dispatch(ev, decodeValue(p));
  }

  dispatch(ev: string, payload: unknown): void {
    const hs = this.#handlers.get(ev);
    if (!hs) return;
    for (const h of [...hs]) {
      try {
        (h as (p: unknown) => void)(payload);
      } catch (err) {
        this.log('error', `a "${ev}" handler threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }

  synthState(state: string, reason: string): void {
    if (this.props.state === state) return;
    this.props = { ...this.props, state };
    this.dispatch('state', { state, reason });
  }

  async token(): Promise<string> {
    const t = this.opts.token;
    const v = typeof t === 'function' ? await t() : t;
    if (typeof v !== 'string' || v === '') throw new ParleyError(Codes.Unauthorized, 'the token function returned no token');
    this.#tokenUser = tokenSubject(v) || this.#tokenUser;
    return v;
  }

  log(level: string, message: string): void {
    const l = level === 'debug' || level === 'info' || level === 'warn' ? level : 'error';
    const sink = this.opts.logger ?? consoleLogger;
    try {
      sink(l, message);
    } catch {
      /* a logger must not break the SDK either */
    }
  }
}

// --- calls -------------------------------------------------------------------

/**
 * A MediaStream as React Native sees it: the stream stays in the host page,
 * which shows it (the WebView is the call screen); this is its id and what
 * it carries.
 */
export interface CallStreamInfo {
  id: string;
  audio: boolean;
  video: boolean;
}

/** A call's state as the page sends it. @internal */
interface CallSnapshot {
  id: string;
  conversationId: string;
  direction: 'outgoing' | 'incoming';
  peers: string[];
  media: CallMedia;
  state: CallState;
  endReason?: CallEndReason;
  localStream?: CallStreamInfo;
  remoteStreams: CallStreamInfo[];
}

/**
 * CallProxy is a call of the host page with the SDK's Call interface:
 * methods go to the page's call by id, state and streams follow the page's
 * events. localStream and remoteStreams are {@link CallStreamInfo}
 * descriptors: the media plays in the WebView.
 */
class CallProxy {
  id: string;
  conversationId: string;
  direction: 'outgoing' | 'incoming';
  peers: string[];
  media: CallMedia;
  state: CallState;
  endReason?: CallEndReason;
  localStream?: CallStreamInfo;
  remoteStreams: CallStreamInfo[];
  readonly #handlers = new Map<string, Set<(p: never) => void>>();

  constructor(
    private readonly core: ClientCore,
    snap: CallSnapshot,
  ) {
    this.id = snap.id;
    this.conversationId = snap.conversationId;
    this.direction = snap.direction;
    this.peers = snap.peers;
    this.media = snap.media;
    this.state = snap.state;
    this.endReason = snap.endReason;
    this.localStream = snap.localStream;
    this.remoteStreams = snap.remoteStreams ?? [];
    // A call that ended before call() returned in the page: over already.
    this.#over = snap.state === 'ended';
  }

  snapshot(): CallSnapshot {
    const { id, conversationId, direction, peers, media, state, endReason, localStream, remoteStreams } = this;
    return { id, conversationId, direction, peers, media, state, endReason, localStream, remoteStreams };
  }

  /** Set by the 'ended' event: nothing more happens to this call. */
  #over = false;

  #apply(snap: CallSnapshot): void {
    if (this.#over) return;
    this.peers = snap.peers ?? this.peers;
    this.media = snap.media ?? this.media;
    this.state = snap.state ?? this.state;
    this.endReason = snap.endReason ?? this.endReason;
    this.localStream = snap.localStream;
    this.remoteStreams = snap.remoteStreams ?? [];
  }

  async #op(op: string, args: unknown[]): Promise<void> {
    const r = await this.core.callOp(this.id, op, args);
    if (typeof r === 'object' && r !== null && (r as CallSnapshot).id === this.id) this.#apply(r as CallSnapshot);
  }

  accept(options?: CallOptions): Promise<void> {
    return this.#op('accept', options === undefined ? [] : [options]);
  }

  reject(): Promise<void> {
    return this.#end('reject');
  }

  hangup(): Promise<void> {
    return this.#end('hangup');
  }

  /**
   * Rejects or hangs up, as the SDK does: a call that is over already, or
   * that the page no longer holds (4260: it ended there first), resolves.
   */
  async #end(op: 'reject' | 'hangup'): Promise<void> {
    if (this.#over || this.state === 'ended') return;
    try {
      await this.#op(op, []);
    } catch (e) {
      if (!(e instanceof ParleyError) || e.code !== Codes.CallNotFound) throw e;
    }
  }

  setMicrophoneEnabled(on: boolean): void {
    if (typeof on !== 'boolean') throw invalid('setMicrophoneEnabled() needs a boolean');
    this.#op('setMicrophoneEnabled', [on]).catch((e) => this.core.log('warn', `setMicrophoneEnabled: ${e instanceof Error ? e.message : String(e)}`));
  }

  setCameraEnabled(on: boolean): Promise<void> {
    if (typeof on !== 'boolean') return Promise.reject(invalid('setCameraEnabled() needs a boolean'));
    return this.#op('setCameraEnabled', [on]);
  }

  on<K extends keyof CallEvents>(event: K, handler: (payload: CallEvents[K]) => void): () => void {
    if (event !== 'state' && event !== 'remoteStream' && event !== 'ended') throw invalid(`call.on(): ${JSON.stringify(event)} is not a call event; events: state, remoteStream, ended`);
    if (typeof handler !== 'function') throw invalid('call.on() needs a handler function');
    let hs = this.#handlers.get(event);
    if (!hs) {
      hs = new Set();
      this.#handlers.set(event, hs);
    }
    const h = handler as (p: never) => void;
    hs.add(h);
    // As in the SDK: the end of a call that is over reaches a handler added
    // later, once, after on() returned.
    const reason = this.endReason;
    if (event === 'ended' && this.state === 'ended' && reason !== undefined) {
      void Promise.resolve().then(() => {
        if (hs.has(h)) this.#call('ended', h, { reason });
      });
    }
    return () => {
      hs.delete(h);
    };
  }

  #call(ev: string, h: (p: never) => void, p: unknown): void {
    try {
      (h as (x: unknown) => void)(p);
    } catch (err) {
      this.core.log('error', `a call "${ev}" handler threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  /** event applies one event of the page's call and tells the handlers. */
  event(ev: string, p: unknown, snap: CallSnapshot): void {
    if (this.#over) return;
    this.#apply(snap);
    if (ev === 'ended') {
      this.#over = true;
      this.state = 'ended';
      const reason = (p as { reason?: CallEndReason } | undefined)?.reason;
      if (reason !== undefined) this.endReason = reason;
    }
    for (const h of [...(this.#handlers.get(ev) ?? [])]) this.#call(ev, h, p);
  }
}

// ---------------------------------------------------------------------------

function consoleLogger(level: Exclude<LogLevel, 'silent'>, message: string): void {
  const fn = level === 'debug' ? console.debug : level === 'info' ? console.info : level === 'warn' ? console.warn : console.error;
  fn(`[parley] ${message}`);
}

function invalid(message: string): ParleyError {
  return new ParleyError(Codes.InvalidArgument, message);
}

function toError(e: WireError): ParleyError {
  // The page's message already has the "parley: <code> <name>" head.
  return new ParleyError(e.code, e.message);
}

function toWire(e: unknown): WireError {
  if (e instanceof ParleyError) return { code: e.code, message: e.message };
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    return { code: (e as { code: number }).code, message: String((e as { message?: unknown }).message ?? '') };
  }
  return { code: Codes.Unauthorized, message: e instanceof Error ? e.message : String(e) };
}

function isTransport(t: unknown): t is Transport {
  return typeof t === 'object' && t !== null && typeof (t as Transport).postMessage === 'function' && typeof (t as Transport).onMessage === 'function';
}

function isMessage(v: unknown): v is Message {
  return typeof v === 'object' && v !== null && typeof (v as Message).clientId === 'string';
}

const NOT_HERE = ['WebSocket', 'instantiate'];

function checkOptions(options: BridgeClientOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('createClient needs an options object');
  const o = options as Record<string, unknown>;
  for (const k of NOT_HERE) {
    if (o[k] !== undefined) throw invalid(`options.${k} cannot cross to the host page, which has its own`);
  }
  if (o.storage !== undefined && o.storage !== 'indexeddb' && o.storage !== 'memory') {
    throw invalid("options.storage must be 'indexeddb' or 'memory' in React Native: the cache lives in the host page");
  }
  if (o.wasmUrl !== undefined && typeof o.wasmUrl !== 'string') throw invalid('options.wasmUrl must be a URL string (relative to the host page)');
  const { token, logger, ...rest } = options;
  if (typeof token !== 'string' && typeof token !== 'function') throw invalid('options.token must be a string or a function returning one');
  if (logger !== undefined && typeof logger !== 'function') throw invalid('options.logger must be a function');
  const wire: Record<string, unknown> = { ...rest };
  if (typeof token === 'string') wire.token = token;
  return { wire, token, logger };
}



/** validName is proto.ValidName: 1 to 64 bytes of letters, digits and _ . @ -. */
function validName(s: string): boolean {
  return /^[A-Za-z0-9_.@-]{1,64}$/.test(s);
}

/**
 * tokenSubject is the `sub` of a JWT when it is a valid user id, else '':
 * the SDK's p2p() reads the same before the relay names the user. The
 * signature is not checked; the relay does that.
 */
function tokenSubject(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1]!.length > 8192) return '';
  try {
    // Bytes as Latin-1 characters: the JSON stays valid, and a valid user id is ASCII.
    const sub = (JSON.parse(String.fromCharCode(...base64url(parts[1]!.replace(/=+$/, '')))) as { sub?: unknown }).sub;
    return typeof sub === 'string' && validName(sub) ? sub : '';
  } catch {
    return '';
  }
}

/** base64url decodes unpadded base64url (Hermes may have no atob); throws on a bad character. */
function base64url(s: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  if (s.length % 4 === 1) throw new Error('bad base64url');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0, acc = 0, n = 0;
  for (const ch of s) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error('bad base64url');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

function preview(data: unknown): string {
  const s = typeof data === 'string' ? data : `(${typeof data})`;
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
