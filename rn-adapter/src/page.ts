// The host page: runs @parley-im/sdk (the unchanged browser build) in the
// WebView and answers the bridge protocol (protocol.ts). It needs two things
// of its host: window.ReactNativeWebView.postMessage(string), and incoming
// strings as `message` events (event.data) on window or document.
//
// The build rewrites the import of '@parley-im/sdk' to the copy beside this
// file (./sdk/esm/index.js).
import { createClient, ParleyError, type Call, type ClientOptions, type Message, type ParleyClient } from '@parley-im/sdk';
import { VERSIONS, decode, decodeValue, encode, encodeValue, sendKey, type FromPage, type Props, type ToPage, type WireError } from './protocol.js';

declare global {
  interface Window {
    ReactNativeWebView?: { postMessage(data: string): void };
    /** Diagnostics of the host page, for tests and debugging. */
    parleyHost?: HostDiagnostics;
  }
}

/** What the page has seen, on window.parleyHost. */
interface HostDiagnostics {
  boot: string;
  versions: readonly number[];
  /** Bridge messages handled, and strings ignored. */
  received: number;
  ignored: number;
  /** Calls made on the page's clients, by method. */
  calls: Record<string, number>;
  /** Clients open in the page now. */
  clients: number;
  /** Milliseconds since navigation start: ready posted, first client created, first connected. */
  timings: Record<string, number>;
  /** The call view's media elements now: per call, the video frames each has decoded. */
  callMedia(): { call: string; stream: string; local: boolean; frames: number }[];
}

const INVALID = 4903;
const CLIENT_CLOSED = 4900;
const UNSUPPORTED_VERSION = 4005;
const CALL_NOT_FOUND = 4260;

const boot = randomHex(8);
const diag: HostDiagnostics = { boot, versions: VERSIONS, received: 0, ignored: 0, calls: {}, clients: 0, timings: {}, callMedia: () => callView.media() };
window.parleyHost = diag;

interface Entry {
  client: ParleyClient;
  offs: Map<string, () => void>;
  /** Sends waiting to learn their clientId: the request id and what they send. */
  awaiting: { id: number; key: string }[];
  getters: string[];
  deviceId?: string;
  /** The live calls of the client, by id: their MediaStreams stay here, shown by the call view. */
  calls: Map<string, Call>;
}

const clients = new Map<number, Entry>();
const opening = new Map<number, Promise<unknown>>();
const asks = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
let nextAsk = 1;

// --- out ----------------------------------------------------------------------

const outbox: string[] = [];
let flushTimer: ReturnType<typeof setInterval> | null = null;

function post(v: number, msg: FromPage): void {
  outbox.push(encode(v, msg));
  flush();
}

function flush(): void {
  const rn = window.ReactNativeWebView;
  if (!rn || typeof rn.postMessage !== 'function') {
    // React Native injects it before the page's scripts; wait if it is late.
    flushTimer ??= setInterval(flush, 20);
    return;
  }
  if (flushTimer) {
    clearInterval(flushTimer);
    flushTimer = null;
  }
  while (outbox.length > 0) rn.postMessage(outbox.shift()!);
}

function ready(): void {
  post(1, { t: 'ready', vs: [...VERSIONS], boot, sdk: '__SDK_VERSION__' });
}

// --- in -----------------------------------------------------------------------

// iOS delivers on window, Android on document; an event dispatched on
// document that bubbles reaches window too, and is handled once.
const seen = new WeakSet<Event>();
function onMessage(ev: Event): void {
  if (seen.has(ev)) return;
  seen.add(ev);
  const d = decode<ToPage>((ev as MessageEvent).data);
  if (!d) {
    diag.ignored++;
    return;
  }
  diag.received++;
  const { v, msg } = d;
  if (msg.t === 'hello') {
    ready();
    return;
  }
  if (!VERSIONS.includes(v)) {
    // A version this page does not speak: say which ones it does.
    diag.ignored++;
    if ('id' in msg && typeof msg.id === 'number' && msg.t !== 'answer') {
      post(VERSIONS[VERSIONS.length - 1]!, { t: 'result', id: msg.id, ok: false, e: { code: UNSUPPORTED_VERSION, message: `bridge version ${v} is not spoken here` } });
    }
    ready();
    return;
  }
  switch (msg.t) {
    case 'open':
      void open(v, msg);
      return;
    case 'call':
      void call(v, msg);
      return;
    case 'sub':
      subscribe(v, msg.c, msg.ev);
      return;
    case 'answer': {
      const a = asks.get(msg.id);
      asks.delete(msg.id);
      if (msg.ok) a?.resolve(decodeValue(msg.r));
      else a?.reject(new ParleyError(msg.e.code, msg.e.message));
      return;
    }
    default:
      diag.ignored++;
  }
}

window.addEventListener('message', onMessage);
document.addEventListener('message', onMessage);

// --- clients ------------------------------------------------------------------

async function open(v: number, msg: Extract<ToPage, { t: 'open' }>): Promise<void> {
  const { id, c } = msg;
  // A client reopened after a pause or a restart of React Native's side
  // replaces the one of that number.
  await opening.get(c)?.catch(() => {});
  const p = (async () => {
    await closeQuietly(c);
    const o = (decodeValue(msg.o) ?? {}) as Record<string, unknown>;
    const options = { ...o } as unknown as ClientOptions;
    if (msg.tf) options.token = () => ask(v, c, 'token') as Promise<string>;
    if (msg.lg) options.logger = (level, message) => post(v, { t: 'log', c, level, message });
    // The single-file page (host/inline.html) carries parley.wasm itself:
    // nothing is fetched, so it starts offline.
    if (options.wasmUrl === undefined && options.instantiate === undefined) {
      const bytes = await inlineWasm();
      if (bytes) options.wasmUrl = bytes;
    }
    let deviceId: string | undefined;
    if (options.deviceId === undefined) {
      deviceId = stableDeviceId();
      if (deviceId) options.deviceId = deviceId;
    }
    options.platform ??= 'react-native';
    const client = await createClient(options);
    if (!diag.timings.created) diag.timings.created = Math.round(performance.now());
    const entry: Entry = { client, offs: new Map(), awaiting: [], getters: getterNames(client), deviceId, calls: new Map() };
    clients.set(c, entry);
    diag.clients = clients.size;
    // Before any forwarder: tells React Native which outbox entry a send
    // became, the moment it is persisted.
    entry.offs.set('$correlate', client.on('message', (m) => correlate(v, entry, m)));
    // Before the 'call' forwarder too: every call is adopted (shown, its
    // events forwarded) whether React Native listens for calls or not.
    entry.offs.set('$calls', client.on('call', (call) => adopt(v, c, entry, call)));
    entry.offs.set('$timing', client.on('state', (s) => {
      if (s.state === 'connected' && !diag.timings.connected) diag.timings.connected = Math.round(performance.now());
    }));
    for (const ev of msg.ev) subscribe(v, c, ev);
    return { methods: methodNames(client), getters: entry.getters };
  })();
  opening.set(c, p);
  try {
    const r = await p;
    post(v, { t: 'result', id, ok: true, r: encodeValue(r), s: props(c) });
  } catch (e) {
    post(v, { t: 'result', id, ok: false, e: toWire(e) });
  } finally {
    if (opening.get(c) === p) opening.delete(c);
  }
}

function subscribe(v: number, c: number, ev: string): void {
  const entry = clients.get(c);
  if (!entry || entry.offs.has(ev)) return;
  if (ev === 'call') {
    // A Call holds MediaStreams and peer connections: what crosses is its
    // snapshot; React Native acts on it by id ($callOp).
    entry.offs.set(ev, entry.client.on('call', (call) => post(v, { t: 'event', c, ev, p: encodeValue(callSnapshot(call)), s: props(c) })));
    return;
  }
  entry.offs.set(
    ev,
    entry.client.on(ev as 'state', (p) => post(v, { t: 'event', c, ev, p: encodeValue(p), s: props(c) })),
  );
}

async function call(v: number, msg: Extract<ToPage, { t: 'call' }>): Promise<void> {
  const { id, c, m } = msg;
  diag.calls[m] = (diag.calls[m] ?? 0) + 1;
  await opening.get(c)?.catch(() => {});
  const entry = clients.get(c);
  try {
    let r: unknown;
    if (!entry) {
      // Nothing to close or pause; anything else has no client to go to.
      if (m !== 'close' && m !== '$pause') throw new ParleyError(CLIENT_CLOSED, `no client ${c} in this page`);
    } else if (m === '$pause' || m === 'close') {
      r = await closeQuietly(c, m === 'close');
    } else if (m === '$recoverSend') {
      r = await recoverSend(v, id, entry, msg.a);
    } else if (m === '$callOp') {
      r = await callOp(entry, decodeValue(msg.a) as unknown[]);
    } else {
      const args = decodeValue(msg.a) as unknown[];
      r = await invoke(id, entry, m, args);
      if (m === 'call') {
        adopt(v, c, entry, r as Call);
        r = callSnapshot(r as Call);
      }
    }
    post(v, { t: 'result', id, ok: true, r: encodeValue(r), s: props(c) });
  } catch (e) {
    post(v, { t: 'result', id, ok: false, e: toWire(e), s: props(c) });
  }
}

/** invoke calls method m of the client; a send waits to learn its clientId. */
async function invoke(id: number, entry: Entry, m: string, args: unknown[]): Promise<unknown> {
  const fn = (entry.client as unknown as Record<string, unknown>)[m];
  if ((API as Record<string, string>)[m] !== 'method' || typeof fn !== 'function') throw new ParleyError(INVALID, `the client has no method ${m}`);
  const key = m === 'sendText' ? sendKey(args[0], 'text', args[1], undefined) : m === 'send' ? outgoingKey(args[0], args[1]) : null;
  const waiting = key !== null ? { id, key } : null;
  if (waiting) entry.awaiting.push(waiting);
  try {
    return await (fn as (...a: unknown[]) => unknown).apply(entry.client, args);
  } finally {
    if (waiting) entry.awaiting = entry.awaiting.filter((x) => x !== waiting);
  }
}

/**
 * adopt keeps a call of the client in the page: the call view shows its
 * media, and its events go to React Native as '$call' events carrying the
 * call's snapshot.
 */
function adopt(v: number, c: number, entry: Entry, call: Call): void {
  // A call that ended before call() returned: nothing to show, and its
  // snapshot says why.
  if (entry.calls.has(call.id) || call.state === 'ended') return;
  entry.calls.set(call.id, call);
  callView.add(call);
  const forward = (ev: string, p: unknown) =>
    post(v, { t: 'event', c, ev: '$call', p: encodeValue({ id: call.id, ev, p, call: callSnapshot(call) }), s: props(c) });
  call.on('state', (st) => {
    callView.update(call);
    forward('state', st);
  });
  call.on('remoteStream', (stream) => {
    callView.update(call);
    forward('remoteStream', streamInfo(stream as MediaStream));
  });
  call.on('ended', (e) => {
    entry.calls.delete(call.id);
    callView.remove(call);
    forward('ended', e);
  });
}

/** What React Native may do to a call, and whether it answers with a promise. */
const CALL_OPS = new Set(['accept', 'reject', 'hangup', 'setMicrophoneEnabled', 'setCameraEnabled']);

/** callOp runs op on the call id of the client: [id, op, ...args]. */
async function callOp(entry: Entry, args: unknown[]): Promise<unknown> {
  const [id, op, ...rest] = args;
  if (typeof id !== 'string' || typeof op !== 'string' || !CALL_OPS.has(op)) throw new ParleyError(INVALID, `no call operation ${String(op)}`);
  const call = entry.calls.get(id);
  if (!call) throw new ParleyError(CALL_NOT_FOUND, `no live call ${id} in this page`);
  const r = await (call as unknown as Record<string, (...a: unknown[]) => unknown>)[op]!.apply(call, rest);
  callView.update(call);
  return r === undefined ? callSnapshot(call) : r;
}

function correlate(v: number, entry: Entry, m: Message): void {
  // Only this device's new sends are announced as pending.
  if (m.status !== 'pending') return;
  const key = sendKey(m.conversationId, m.type, m.text, m.body);
  const i = entry.awaiting.findIndex((x) => x.key === key);
  if (i < 0) return;
  const [w] = entry.awaiting.splice(i, 1);
  post(v, { t: 'accepted', id: w!.id, clientId: m.clientId });
}

/**
 * recoverSend settles a send that React Native made before this page (or
 * this client) existed. Its outbox entry, if it got that far, is in
 * IndexedDB: found by its clientId when React Native learned it, otherwise by
 * what it sends, made no earlier than the call and not claimed by another
 * send. Found, it waits for that entry's ack (the relay stores a clientId
 * once); not found, it was never persisted, and is sent now.
 */
async function recoverSend(v: number, id: number, entry: Entry, raw: unknown[]): Promise<unknown> {
  const [m, encodedArgs, meta] = raw as [string, unknown, { since?: number; clientId?: string; exclude?: string[] }];
  const args = (decodeValue(encodedArgs) ?? []) as unknown[];
  const conv = args[0];
  const key = m === 'sendText' ? sendKey(conv, 'text', args[1], undefined) : outgoingKey(conv, args[1]);
  const since = typeof meta?.since === 'number' ? meta.since : Date.now();
  const exclude = new Set(Array.isArray(meta?.exclude) ? meta.exclude : []);
  let clientId = typeof meta?.clientId === 'string' ? meta.clientId : undefined;
  const client = entry.client;
  for (let attempt = 0; attempt < 5; attempt++) {
    let list: Message[] = [];
    if (typeof conv === 'string' && conv !== '') {
      try {
        list = await client.messages(conv, { limit: 500 });
      } catch {
        list = []; // an invalid conversation: the send below says why
      }
    }
    const me = client.userId;
    const found = clientId
      ? list.find((x) => x.clientId === clientId)
      : list.find(
          (x) =>
            !exclude.has(x.clientId) &&
            (x.localTime ?? x.createdAt) >= since &&
            (x.status !== 'sent' || x.sender === me) &&
            sendKey(x.conversationId, x.type, x.text, x.body) === key,
        );
    if (!found) {
      if (clientId) throw new ParleyError(INVALID, 'the message is no longer in the outbox (discarded)');
      return invoke(id, entry, m, args); // never reached the outbox: send it now
    }
    clientId = found.clientId;
    post(v, { t: 'accepted', id, clientId });
    if (found.status === 'sent') return found;
    if (found.status === 'failed') throw new ParleyError(found.errorCode ?? INVALID, 'the relay refused the message');
    try {
      return await client.resend(clientId);
    } catch (e) {
      // Acknowledged between the look and the resend: look again.
      if (!(e instanceof ParleyError) || e.code !== INVALID) throw e;
    }
  }
  throw new ParleyError(INVALID, 'the message could not be found in the outbox or the history');
}

async function closeQuietly(c: number, tell = false): Promise<void> {
  const entry = clients.get(c);
  if (!entry) return;
  clients.delete(c);
  diag.clients = clients.size;
  if (!tell) for (const off of entry.offs.values()) off();
  try {
    await entry.client.close();
  } finally {
    if (entry.deviceId) inUse.delete(entry.deviceId);
    if (tell) for (const off of entry.offs.values()) off();
  }
}

function ask(v: number, c: number, m: string): Promise<unknown> {
  const id = nextAsk++;
  return new Promise((resolve, reject) => {
    asks.set(id, { resolve, reject });
    post(v, { t: 'ask', id, c, m });
  });
}

// --- helpers ------------------------------------------------------------------

function outgoingKey(conv: unknown, message: unknown): string {
  const o = (typeof message === 'object' && message !== null ? message : {}) as { type?: unknown; text?: unknown; body?: unknown };
  return sendKey(conv, o.type, o.text, o.body);
}

/**
 * API is what the bridge forwards: every member of ParleyClient, by kind.
 * The compiler refuses to build this page when ParleyClient gains or loses a
 * member that is not listed here, so none is ever left behind; members the
 * SDK's class has besides (its internals) are never forwarded.
 */
const API = {
  state: 'getter',
  userId: 'getter',
  deviceId: 'getter',
  connect: 'method',
  reconnect: 'method',
  on: 'method',
  once: 'method',
  off: 'method',
  p2p: 'method',
  sendText: 'method',
  send: 'method',
  resend: 'method',
  discard: 'method',
  conversations: 'method',
  conversation: 'method',
  totalUnread: 'method',
  messages: 'method',
  history: 'method',
  search: 'method',
  markRead: 'method',
  typing: 'method',
  recall: 'method',
  edit: 'method',
  deleteMessage: 'method',
  react: 'method',
  unreact: 'method',
  readReceipts: 'method',
  call: 'method',
  devices: 'method',
  kickDevice: 'method',
  createGroup: 'method',
  updateGroup: 'method',
  addMembers: 'method',
  removeMembers: 'method',
  leaveGroup: 'method',
  dismissGroup: 'method',
  transferGroup: 'method',
  setRole: 'method',
  muteMember: 'method',
  muteAll: 'method',
  requestJoin: 'method',
  answerJoin: 'method',
  answerInvite: 'method',
  invitations: 'method',
  joinRequests: 'method',
  members: 'method',
  requestContact: 'method',
  answerContact: 'method',
  removeContact: 'method',
  contacts: 'method',
  relations: 'method',
  block: 'method',
  unblock: 'method',
  blocked: 'method',
  setContactsOnly: 'method',
  contactsOnly: 'method',
  setConversation: 'method',
  setDraft: 'method',
  setStatus: 'method',
  subscribePresence: 'method',
  unsubscribePresence: 'method',
  setProfile: 'method',
  profiles: 'method',
  download: 'method',
  waitSynced: 'method',
  close: 'method',
} as const satisfies Record<keyof ParleyClient, 'getter' | 'method'>;

/** methodNames lists the API's methods this client has. */
function methodNames(client: ParleyClient): string[] {
  return Object.entries(API)
    .filter(([name, kind]) => kind === 'method' && typeof (client as unknown as Record<string, unknown>)[name] === 'function')
    .map(([name]) => name);
}

/** getterNames lists the API's getters (state, userId, …). */
function getterNames(client: ParleyClient): string[] {
  return Object.entries(API)
    .filter(([name, kind]) => kind === 'getter' && name in client)
    .map(([name]) => name);
}

function props(c: number): Props | undefined {
  const entry = clients.get(c);
  if (!entry) return undefined;
  const out: Props = {};
  for (const name of entry.getters) {
    try {
      out[name] = encodeValue((entry.client as unknown as Record<string, unknown>)[name]);
    } catch {
      /* a getter that throws is left out */
    }
  }
  return out;
}

function toWire(e: unknown): WireError {
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    return { code: (e as { code: number }).code, message: String((e as { message?: unknown }).message ?? '') };
  }
  return { code: 4905, message: e instanceof Error ? e.message : String(e) };
}

// --- calls --------------------------------------------------------------------

/** What crosses the bridge of a MediaStream, which cannot: its id and kinds. */
interface StreamInfo {
  id: string;
  audio: boolean;
  video: boolean;
}

function streamInfo(s: MediaStream): StreamInfo {
  return { id: s.id, audio: s.getAudioTracks().length > 0, video: s.getVideoTracks().length > 0 };
}

/** callSnapshot is a call's state as it crosses the bridge: streams as StreamInfo. */
function callSnapshot(call: Call): Record<string, unknown> {
  return {
    id: call.id,
    conversationId: call.conversationId,
    direction: call.direction,
    peers: [...call.peers],
    media: { ...call.media },
    state: call.state,
    endReason: call.endReason,
    localStream: call.localStream ? streamInfo(call.localStream as MediaStream) : undefined,
    remoteStreams: call.remoteStreams.map((s) => streamInfo(s as MediaStream)),
  };
}

/**
 * CallView shows the media of the page's live calls: the WebView is the
 * call screen while a call lasts (the app makes it visible). Each call is
 * a section with the peers' video (or, audio only, an element playing
 * their sound) and this device's camera, muted, in a corner. Nothing is
 * shown while there is no call. The element has the id `parley-call`
 * and each part a class (`parley-remote`, `parley-local`) an app may
 * style through injected CSS.
 */
class CallView {
  readonly #sections = new Map<string, HTMLElement>();
  #root: HTMLElement | null = null;

  root(): HTMLElement {
    if (!this.#root) {
      const el = document.createElement('div');
      el.id = 'parley-call';
      el.style.cssText = 'position:fixed;inset:0;display:none;flex-direction:column;gap:4px;background:#000;';
      document.body.appendChild(el);
      this.#root = el;
    }
    return this.#root;
  }

  add(call: Call): void {
    if (this.#sections.has(call.id)) return;
    const sec = document.createElement('section');
    sec.dataset.call = call.id;
    sec.style.cssText = 'position:relative;flex:1;display:flex;flex-wrap:wrap;';
    this.root().appendChild(sec);
    this.#sections.set(call.id, sec);
    this.root().style.display = 'flex';
    this.update(call);
  }

  update(call: Call): void {
    const sec = this.#sections.get(call.id);
    if (!sec) return;
    const want = new Map<string, { stream: MediaStream; local: boolean }>();
    for (const s of call.remoteStreams) want.set((s as MediaStream).id, { stream: s as MediaStream, local: false });
    if (call.localStream) want.set((call.localStream as MediaStream).id, { stream: call.localStream as MediaStream, local: true });
    for (const el of Array.from(sec.querySelectorAll('video'))) {
      if (!want.has(el.dataset.stream ?? '')) el.remove();
    }
    for (const [id, { stream, local }] of want) {
      if (sec.querySelector(`video[data-stream="${CSS.escape(id)}"]`)) continue;
      const v = document.createElement('video');
      v.dataset.stream = id;
      v.className = local ? 'parley-local' : 'parley-remote';
      v.autoplay = true;
      v.playsInline = true;
      v.muted = local; // never play this device's own microphone back
      v.style.cssText = local
        ? 'position:absolute;right:8px;bottom:8px;width:28%;max-height:30%;object-fit:cover;z-index:1;'
        : 'flex:1;min-width:50%;height:100%;object-fit:cover;';
      v.srcObject = stream;
      sec.appendChild(v);
      v.play().catch(() => {
        /* autoplay refused: the WebView needs mediaPlaybackRequiresUserAction={false} */
      });
    }
  }

  remove(call: Call): void {
    const sec = this.#sections.get(call.id);
    if (!sec) return;
    for (const v of Array.from(sec.querySelectorAll('video'))) v.srcObject = null;
    sec.remove();
    this.#sections.delete(call.id);
    if (this.#sections.size === 0 && this.#root) this.#root.style.display = 'none';
  }

  /** media lists the media elements shown, with the video frames each decoded. */
  media(): { call: string; stream: string; local: boolean; frames: number }[] {
    const out: { call: string; stream: string; local: boolean; frames: number }[] = [];
    for (const [id, sec] of this.#sections) {
      for (const v of Array.from(sec.querySelectorAll('video'))) {
        const q = typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
        out.push({ call: id, stream: v.dataset.stream ?? '', local: v.classList.contains('parley-local'), frames: q });
      }
    }
    return out;
  }
}

const callView = new CallView();

const DEVICE_KEY = 'parley.rn.deviceId';
const inUse = new Set<string>();

/**
 * stableDeviceId returns the app's device id, kept in localStorage so that
 * a new page (after the WebView's process died) is the same device to the
 * relay; a second client at once gets one of its own.
 */
function stableDeviceId(): string | undefined {
  let id: string | null = null;
  try {
    id = localStorage.getItem(DEVICE_KEY);
    if (!id || !/^[A-Za-z0-9_.@-]{1,64}$/.test(id)) {
      id = 'rn-' + randomHex(8);
      localStorage.setItem(DEVICE_KEY, id);
    }
  } catch {
    return undefined; // no localStorage: the SDK picks one
  }
  if (inUse.has(id)) id = 'rn-' + randomHex(8);
  inUse.add(id);
  return id;
}

let inlined: Promise<Uint8Array | undefined> | undefined;

/**
 * inlineWasm returns parley.wasm from the page itself: the single-file page
 * carries it gzip-compressed and base64-encoded in
 * `<script id="parley-wasm" type="application/octet-stream">`, decoded
 * once. The multi-file page has no such element: the SDK fetches
 * ./sdk/parley.wasm beside it.
 */
function inlineWasm(): Promise<Uint8Array | undefined> {
  inlined ??= (async () => {
    const el = document.getElementById('parley-wasm');
    const text = el?.textContent?.trim();
    if (!el || !text) return undefined;
    const t0 = performance.now();
    const packed = await (await fetch(`data:application/octet-stream;base64,${text}`)).arrayBuffer();
    let bytes: ArrayBuffer = packed;
    if (el.dataset.encoding === 'gzip') {
      const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'));
      bytes = await new Response(stream).arrayBuffer();
    }
    diag.timings.wasmInflatedMs = Math.round(performance.now() - t0);
    return new Uint8Array(bytes);
  })();
  return inlined;
}

function randomHex(n: number): string {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

diag.timings.script = Math.round(performance.now());
ready();
