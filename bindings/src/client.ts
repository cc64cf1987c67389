// The client: ClientOptions in, a WasmClient behind the public ParleyClient.
import { Codes } from './codes.js';
import { encodeBody, toConversation, toEvent, toMessage, type DecodedEvent } from './convert.js';
import { sendExtras, shown } from './lifecycle.js';
import { flag, groupInfo, membersArgs, muteOp, plainOp, roleOp, text, updateOp, usersOp, type BridgeGroupOp } from './groups.js';
import { claimTabDeviceId, type DeviceClaim } from './device.js';
import { Calls } from './call.js';
import { ParleyError, invalid, toParleyError } from './errors.js';
import { ensureWebSocket, loadBridge } from './loader.js';
import { checkPresenceArgs, checkProfile, checkStatus, checkUsers, checked } from './presence.js';
import { inOrder, indexedDBStorage, preload, sharesBatches } from './storage/indexeddb.js';
import { Uploader, indexedDBStash, memoryStash, type AttachmentDraft } from './attachments.js';
import type {
  AbortOptions,
  Call,
  CallOptions,
  ClientEventName,
  ClientEvents,
  ClientOptions,
  ConnectionState,
  Conversation,
  ConversationSettings,
  CreateGroupOptions,
  DeleteOptions,
  Device,
  HistoryOptions,
  HistoryPage,
  LogLevel,
  Message,
  MessagesOptions,
  OutgoingMessage,
  OutgoingAttachment,
  ParleyClient,
  ReadReceipts,
  SearchCursor,
  SearchOptions,
  SendTextOptions,
  SendOptions,
  StorageAdapter,
  Relation,
  GroupNotice,
  GroupUpdate,
  Member,
  MembersOptions,
  Presence,
  Profile,
  ProfileUpdate,
  SubscribePresenceOptions,
} from './types.js';
import type { BridgeConfig, BridgeEvent, BridgeSearch, StoredConversation } from './bridge.gen.js';
import type { WasmClient, WasmError, WasmHost, WasmStorage } from './wasm.js';

// A StorageAdapter is what the module calls as WasmStorage (wasm.d.ts is
// internal and stripped); this fails to compile if the two drift.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameShapes: Same<StorageAdapter, WasmStorage> = true;
void _sameShapes;

type Level = Exclude<LogLevel, 'silent'>;
const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

// Every event name; the compiler checks the list against ClientEvents both ways.
const EVENT_LIST = ['call', 'state', 'message', 'messageUpdate', 'conversation', 'syncStart', 'syncEnd', 'kicked', 'tokenWillExpire', 'reset', 'typing', 'contactRequest', 'contactAnswer', 'contact', 'totalUnread', 'invitation', 'joinRequest', 'presence', 'profile'] as const;
const _allEvents: Same<(typeof EVENT_LIST)[number], ClientEventName> = true;
void _allEvents;
const EVENT_NAMES: ReadonlySet<string> = new Set(EVENT_LIST);

/**
 * PROBE_MS is how long a connection may stay silent after the page said the
 * network changed (offline, online, back to the foreground, resumed from a
 * freeze) before it is dropped as dead: a ping goes out at once, and the
 * relay answers a healthy one in a round trip.
 */
const PROBE_MS = 1500;

/** MAX_TIMEOUT_MS is the longest delay setTimeout takes (2^31-1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A timed mute the client waits out: its end, and the timer armed for it. */
interface MuteEnd {
  until: number;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * openClient implements createClient (index.ts): it validates the options,
 * prepares the host (WebSocket, storage, device id), loads the wasm module
 * and creates the Go client.
 * @internal
 */
export async function openClient(options: ClientOptions): Promise<ParleyClient> {
  if (typeof options !== 'object' || options === null) throw invalid('createClient needs an options object');
  const { url, token } = options;
  if (typeof url !== 'string' || url === '') throw invalid('options.url must be the relay WebSocket URL');
  if (typeof token !== 'string' && typeof token !== 'function') throw invalid('options.token must be a string or a function returning one');
  if (typeof token === 'string' && token === '') throw invalid('options.token is empty');
  for (const k of ['heartbeatMs', 'requestTimeoutMs', 'connectTimeoutMs', 'sendWindow', 'seed'] as const) checkCount(options[k], k);
  for (const k of ['maxAttempts', 'minDelayMs', 'maxDelayMs'] as const) checkCount(options.reconnect?.[k], `reconnect.${k}`);
  if (options.wasmGlobal !== undefined && (typeof options.wasmGlobal !== 'object' || options.wasmGlobal === null)) {
    throw invalid('options.wasmGlobal must be an object');
  }
  const logLevel = options.logLevel ?? 'warn';
  if (!(logLevel in LEVELS)) throw invalid(`options.logLevel must be one of ${Object.keys(LEVELS).join(', ')}`);
  const sink = options.logger ?? consoleLogger;
  const log = (level: Level, message: string) => {
    if (LEVELS[level] >= LEVELS[logLevel]) {
      try {
        sink(level, message);
      } catch {
        /* a logger must not break the SDK either */
      }
    }
  };

  // Storage: the built-in ones are chosen by name; an adapter is used as is,
  // its calls kept in order (inOrder).
  const storageOpt = options.storage ?? (hasIndexedDB() ? 'indexeddb' : 'memory');
  let storage: WasmStorage | null;
  let ownStorage = false;
  if (storageOpt === 'memory') {
    storage = null; // the wasm module keeps the cache in Go memory
  } else if (storageOpt === 'indexeddb') {
    const idb = indexedDBStorage();
    // A cold start reads the cache while parley.wasm downloads and
    // compiles, instead of after the Go program asks for it.
    preload(idb);
    storage = idb;
    ownStorage = true;
  } else if (isAdapter(storageOpt)) {
    storage = inOrder(storageOpt);
  } else {
    throw invalid("options.storage must be 'indexeddb', 'memory' or a StorageAdapter");
  }

  let claim: DeviceClaim | null = null;
  let deviceId = options.deviceId;
  if (deviceId !== undefined && (typeof deviceId !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(deviceId))) {
    if (ownStorage) await storage?.close().catch(() => {});
    throw invalid('options.deviceId must be 1 to 64 characters of [A-Za-z0-9_.@-]');
  }
  // The module loads (fetch, compile, the Go runtime's start) while the
  // device id is claimed and the WebSocket found; loading is shared by the
  // realm's clients, so one that fails below leaves nothing behind.
  const bridgeP = loadBridge({ wasmUrl: options.wasmUrl, instantiate: options.instantiate, wasmGlobal: options.wasmGlobal });
  bridgeP.catch(() => {});
  if (deviceId === undefined && (ownStorage || storage === null)) {
    claim = await claimTabDeviceId();
    if (claim) deviceId = claim.id;
  }

  try {
    await ensureWebSocket(options.WebSocket, log, options.wasmGlobal);
    const bridge = await bridgeP;
    const config: BridgeConfig = {
      url,
      deviceId,
      heartbeatMs: options.heartbeatMs,
      requestTimeoutMs: options.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      // A fixed token goes to the module as is: the client reads the user
      // it claims, so p2p() works before the first connect.
      token: typeof token === 'string' ? token : undefined,
      minDelayMs: options.reconnect?.minDelayMs,
      maxDelayMs: options.reconnect?.maxDelayMs,
      maxAttempts: options.reconnect?.maxAttempts,
      sendWindow: options.sendWindow,
      tokenRefresh: typeof token === 'function',
      seed: options.seed,
      logLevel,
      platform: options.platform ?? defaultPlatform(),
    };
    const client = new Client(log, storage, ownStorage, claim);
    const idbFactory = (globalThis as { indexedDB?: unknown }).indexedDB;
    client.uploader = new Uploader(
      url,
      options.uploadUrl,
      typeof token === 'function' ? () => fetchToken(token) : () => Promise.resolve(token),
      storageOpt === 'indexeddb' && idbFactory ? indexedDBStash(idbFactory as Parameters<typeof indexedDBStash>[0]) : memoryStash(),
      (level, message) => log(level, message),
    );
    const host: WasmHost = {
      onEvent: (event) => client.enqueue(event),
      onEvents: (events, stored) => {
        for (const e of events) {
          // A message the storage was handed in a batch comes from there:
          // parsed once for both (WasmHost.sharesBatches). toEvent copies
          // it into the application's Message.
          const ref = (e as { stored?: [number, number] }).stored;
          if (ref && stored) e.message = stored[ref[0]]![ref[1]];
          client.enqueue(e);
        }
      },
      sharesBatches: storage !== null && sharesBatches(storage),
      token: typeof token === 'function' ? () => fetchToken(token) : () => Promise.resolve(token),
      storage,
      log: (level, message) => log(asLevel(level), message),
    };
    let wc: WasmClient | WasmError;
    try {
      wc = bridge.newClient(config, host);
    } catch (e) {
      throw toParleyError(e);
    }
    // Go cannot throw into its JS caller, so the module returns the
    // WasmError of a bad config instead of a client.
    if (typeof (wc as Partial<WasmClient>).connect !== 'function') throw toParleyError(wc);
    client.attach(wc as WasmClient);
    return client;
  } catch (e) {
    claim?.release();
    if (ownStorage) await storage?.close().catch(() => {});
    throw e;
  }
}

/** Client is the ParleyClient over one WasmClient. @internal */
class Client implements ParleyClient {
  #wc: WasmClient | null = null;
  /** Runs attachment uploads (attachments.ts). @internal */
  uploader: Uploader | null = null;
  #closing: Promise<void> | null = null;
  // Per event: the handler given → the function that runs (itself, or the once wrapper).
  readonly #handlers = new Map<ClientEventName, Map<Handler, Handler>>();
  readonly #queue: DecodedEvent[] = [];
  readonly #calls = new Calls({
    wc: () => this.#live(),
    log: (level, message) => this.log(level, message),
    incoming: (call) => this.#deliver({ name: 'call', payload: call }),
  });
  #draining = false;
  // Per group where this user is muted until a time: the relay sends
  // nothing when that time passes, so the client emits the conversation
  // again itself (#watchMute).
  readonly #muteEnds = new Map<string, MuteEnd>();
  #offPage: (() => void) | null = null;
  // What userId and deviceId last returned, for after close(), when the
  // wasm client's functions are released.
  #user = '';
  #device = '';

  constructor(
    private readonly log: (level: Level, message: string) => void,
    private readonly storage: WasmStorage | null,
    private readonly ownStorage: boolean,
    private readonly claim: DeviceClaim | null,
  ) {}

  attach(wc: WasmClient): void {
    this.#wc = wc;
    this.#offPage = watchPage(
      () => this.reconnect(),
      (why) => this.#probe(why),
    );
  }

  /** probe checks the connection at once because the page said something changed. */
  #probe(why: string): void {
    if (this.#closing || !this.#wc) return;
    this.log('debug', `${why}: probing the connection`);
    try {
      this.#wc.probe(PROBE_MS);
    } catch (e) {
      this.log('warn', `probe: ${String(e)}`);
    }
  }

  /**
   * enqueue takes an event from the Go side (WasmHost.onEvent). It must not
   * throw and should not call back into Go, so handlers run later, from a
   * microtask, in order.
   */
  enqueue(event: BridgeEvent): void {
    try {
      // Calls are stateful objects: the call module turns their events
      // into Call objects and their state.
      if (event.kind === 'call' && event.call) return this.#calls.call(event.call);
      if (event.kind === 'callSignal' && event.signal) return this.#calls.signal(event.signal);
      const e = toEvent(event);
      if (!e) return;
      if (e.name === 'conversation') this.#watchMute(e.payload);
      this.#deliver(e);
    } catch (err) {
      this.log('error', `dropped an event the SDK could not decode: ${String(err)}`);
    }
  }

  /** conv converts a conversation the client hands out and waits out its timed mute. */
  #conv(b: StoredConversation): Conversation {
    const c = toConversation(b);
    this.#watchMute(c);
    return c;
  }

  /**
   * watchMute keeps one timer per group where this user is muted until a
   * time, for the newest state of the conversation seen: a state with
   * another end replaces it, one with no mute (lifted, or already over)
   * drops it.
   */
  #watchMute(c: Conversation): void {
    const held = this.#muteEnds.get(c.id);
    if (c.mutedInGroup && c.mutedUntil !== undefined) {
      if (held?.until === c.mutedUntil) return;
      if (held?.timer) clearTimeout(held.timer);
      if (this.#closing) return;
      const end: MuteEnd = { until: c.mutedUntil, timer: null };
      this.#muteEnds.set(c.id, end);
      this.#armMute(c.id, end);
    } else if (held) {
      if (held.timer) clearTimeout(held.timer);
      this.#muteEnds.delete(c.id);
    }
  }

  /** armMute waits until the mute's end, in steps setTimeout can take. */
  #armMute(id: string, end: MuteEnd): void {
    const wait = Math.min(Math.max(end.until - Date.now(), 0), MAX_TIMEOUT_MS);
    end.timer = setTimeout(() => void this.#muteEnded(id, end), wait);
  }

  /**
   * muteEnded emits the conversation, read again, once its mute is over,
   * unless a newer state of it came meanwhile: that one was emitted and
   * already says whether the user is muted.
   */
  async #muteEnded(id: string, end: MuteEnd): Promise<void> {
    end.timer = null;
    if (this.#muteEnds.get(id) !== end) return;
    // Timers may fire a little early, and a long mute is waited out in steps.
    if (Date.now() < end.until) return this.#armMute(id, end);
    let b: StoredConversation | null = null;
    try {
      b = await this.#live().conversation(id);
    } catch {
      /* closed meanwhile: nothing to tell */
    }
    if (this.#muteEnds.get(id) !== end || this.#closing) return;
    this.#muteEnds.delete(id);
    if (!b) return;
    const c = toConversation(b);
    // Another end (a listing read before a newer state was older than it):
    // the state says which, and nothing ended.
    if (b.mutedUntil !== end.until) return this.#watchMute(c);
    this.#deliver({ name: 'conversation', payload: c });
  }

  #deliver(e: DecodedEvent): void {
    this.#queue.push(e);
    if (!this.#draining) {
      this.#draining = true;
      queueMicrotask(() => this.#drain());
    }
  }

  call(userOrConversationId: string, options?: CallOptions): Promise<Call> {
    if (typeof userOrConversationId !== 'string' || userOrConversationId === '') {
      return Promise.reject(invalid('call() needs a user id or a conversation id'));
    }
    let conv = userOrConversationId;
    if (!/^[pg]:/.test(conv)) {
      try {
        conv = this.p2p(conv);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.#calls.place(conv, options);
  }

  #drain(): void {
    // Events queued by handlers (through SDK calls) are delivered in this loop too.
    for (let e = this.#queue.shift(); e; e = this.#queue.shift()) {
      const hs = this.#handlers.get(e.name);
      if (!hs) continue;
      for (const h of [...hs.values()]) {
        try {
          (h as (p: unknown) => void)(e.payload);
        } catch (err) {
          this.log('error', `a "${e.name}" handler threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        }
      }
    }
    this.#draining = false;
  }

  /** live returns the WasmClient, or throws 4900 once close() was called: its functions are released then. */
  #live(): WasmClient {
    if (this.#closing || !this.#wc) throw new ParleyError(Codes.ClientClosed, 'the client was closed');
    return this.#wc;
  }

  /** call runs a wasm call and turns whatever it throws or rejects with into a ParleyError. */
  async #call<T>(f: (wc: WasmClient) => Promise<T>): Promise<T> {
    const wc = this.#live();
    try {
      return await f(wc);
    } catch (e) {
      throw toParleyError(e);
    }
  }

  get state(): ConnectionState {
    if (this.#closing || !this.#wc) return 'closed';
    return this.#wc.state();
  }

  get userId(): string {
    if (!this.#closing && this.#wc) this.#user = this.#wc.userId();
    return this.#user;
  }

  get deviceId(): string {
    if (!this.#closing && this.#wc) this.#device = this.#wc.deviceId();
    return this.#device || (this.claim?.id ?? '');
  }

  connect(options: AbortOptions = {}): Promise<void> {
    let signal: AbortSignal | undefined;
    try {
      signal = signalOf(options);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#call((wc) => wc.connect(signal)).then(() => {
      // Messages whose upload a restart interrupted go on now.
      if (this.#wc && !this.#closing) void this.uploader?.resume(this.#wc);
    });
  }

  reconnect(): void {
    if (this.#closing || !this.#wc) return;
    try {
      this.#wc.reconnect();
    } catch (e) {
      this.log('warn', `reconnect: ${String(e)}`);
    }
  }

  on<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): () => void {
    const hs = this.#subscribers(event, handler, 'on');
    const h = handler as Handler;
    hs.set(h, h);
    return () => this.off(event, handler);
  }

  once<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): () => void {
    const hs = this.#subscribers(event, handler, 'once');
    const h = handler as Handler;
    const wrapper: Handler = (payload) => {
      if (hs.get(h) === wrapper) hs.delete(h);
      h(payload);
    };
    hs.set(h, wrapper);
    return () => this.off(event, handler);
  }

  off<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): void {
    this.#handlers.get(event)?.delete(handler as Handler);
  }

  #subscribers(event: string, handler: unknown, what: string): Map<Handler, Handler> {
    if (typeof event !== 'string' || !EVENT_NAMES.has(event)) {
      throw invalid(`${what}(): ${JSON.stringify(event)} is not an event; events: ${[...EVENT_NAMES].join(', ')}`);
    }
    if (typeof handler !== 'function') throw invalid(`${what}() needs a handler function`);
    const name = event as ClientEventName;
    let hs = this.#handlers.get(name);
    if (!hs) {
      hs = new Map();
      this.#handlers.set(name, hs);
    }
    return hs;
  }

  p2p(peer: string): string {
    if (typeof peer !== 'string' || peer === '') throw invalid('p2p() needs the peer user id');
    const id = this.#wc ? this.#wc.p2p(peer) : '';
    if (typeof id === 'string' && id !== '') return id;
    if (!this.userId) throw invalid('the user id is not known yet: connect first (or start from a cache)');
    throw invalid(`p2p(): ${JSON.stringify(peer)} is not a valid user id`);
  }

  sendText(conversationId: string, text: string, options: SendTextOptions = {}): Promise<Message> {
    if (typeof text !== 'string') return Promise.reject(invalid('sendText() needs a string'));
    if (typeof options !== 'object' || options === null) return Promise.reject(invalid('sendText options must be an object'));
    return this.send(conversationId, { type: 'text', text, clientId: options.clientId }, { signal: options.signal });
  }

  async send(conversationId: string, message: OutgoingMessage | OutgoingAttachment, options: SendOptions = {}): Promise<Message> {
    if (typeof conversationId !== 'string' || conversationId === '') throw invalid('send() needs a conversation id');
    if (typeof message !== 'object' || message === null || typeof message.type !== 'string') {
      throw invalid("send() needs a message with a type, e.g. { type: 'custom', body }");
    }
    if ('file' in message) {
      const onProgress = options.onProgress;
      if (onProgress !== undefined && typeof onProgress !== 'function') throw invalid('onProgress must be a function');
      const signal = signalOf(options);
      const wc = this.#live();
      return toMessage(await this.#call(() => this.uploader!.send(wc, conversationId, message as AttachmentDraft, onProgress, signal)));
    }
    let body: Uint8Array | null;
    try {
      body = encodeBody(message.body);
    } catch (e) {
      throw invalid(`message body: ${e instanceof Error ? e.message : String(e)}`);
    }
    const text = message.text ?? '';
    if (typeof text !== 'string') throw invalid('message text must be a string');
    const clientId = message.clientId;
    if (clientId !== undefined && (typeof clientId !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(clientId))) {
      throw invalid('clientId must be 1 to 64 characters of [A-Za-z0-9_.@-]');
    }
    const signal = signalOf(options);
    const { replyTo, mentions } = sendExtras(message);
    return toMessage(await this.#call((wc) => wc.send(conversationId, message.type, text, body, clientId, signal, replyTo, mentions)));
  }

  async resend(clientId: string): Promise<Message> {
    return toMessage(
      await this.#call((wc) => {
        const p = wc.resend(clientId);
        void this.uploader?.resume(wc); // a failed upload goes again
        return p;
      }),
    );
  }

  async download(message: Message, options: AbortOptions = {}): Promise<Uint8Array> {
    const signal = signalOf(options);
    this.#live();
    return this.#call(() => this.uploader!.download(message, signal));
  }

  discard(clientId: string): Promise<void> {
    return this.#call((wc) => wc.discard(clientId));
  }

  async conversations(): Promise<Conversation[]> {
    return (await this.#call((wc) => wc.conversations())).map((b) => this.#conv(b));
  }

  async conversation(id: string): Promise<Conversation | undefined> {
    if (typeof id !== 'string' || id === '') throw invalid('conversation() needs a conversation id');
    const c = await this.#call((wc) => wc.conversation(id));
    return c ? this.#conv(c) : undefined;
  }

  totalUnread(): Promise<number> {
    return this.#call((wc) => wc.totalUnread());
  }

  requestContact(user: string, note = ''): Promise<void> {
    if (typeof note !== 'string') return Promise.reject(invalid('requestContact() note must be a string'));
    return this.#contact('request', user, note);
  }

  answerContact(user: string, accept: boolean): Promise<void> {
    if (typeof accept !== 'boolean') return Promise.reject(invalid('answerContact() needs accept: true or false'));
    return this.#contact(accept ? 'accept' : 'decline', user);
  }

  removeContact(user: string): Promise<void> {
    return this.#contact('remove', user);
  }

  block(user: string): Promise<void> {
    return this.#contact('block', user);
  }

  unblock(user: string): Promise<void> {
    return this.#contact('unblock', user);
  }

  #contact(op: string, user: string, note = ''): Promise<void> {
    if (typeof user !== 'string' || user === '') return Promise.reject(invalid(`${op}: needs a user id`));
    return this.#call((wc) => wc.contact(op, user, note));
  }

  relations(): Promise<Relation[]> {
    return this.#call((wc) => wc.relations());
  }

  async contacts(): Promise<string[]> {
    return (await this.relations()).filter((r) => r.state === 'contact').map((r) => r.user);
  }

  async blocked(): Promise<string[]> {
    return (await this.relations()).filter((r) => r.blocked).map((r) => r.user);
  }

  setContactsOnly(on: boolean): Promise<void> {
    if (typeof on !== 'boolean') return Promise.reject(invalid('setContactsOnly() needs true or false'));
    return this.#call((wc) => wc.setContactsOnly(on));
  }

  contactsOnly(): Promise<boolean> {
    return this.#call((wc) => wc.contactsOnly());
  }

  setConversation(conversationId: string, settings: ConversationSettings): Promise<void> {
    if (typeof conversationId !== 'string' || conversationId === '') return Promise.reject(invalid('setConversation() needs a conversation id'));
    if (typeof settings !== 'object' || settings === null) return Promise.reject(invalid('setConversation() needs { pinned?, muted?, hidden? }'));
    const { pinned, muted, hidden } = settings;
    for (const [k, v] of Object.entries({ pinned, muted, hidden })) {
      if (v !== undefined && typeof v !== 'boolean') return Promise.reject(invalid(`setConversation(): ${k} must be a boolean`));
    }
    if (pinned === undefined && muted === undefined && hidden === undefined) return Promise.reject(invalid('setConversation(): nothing to set'));
    return this.#call((wc) => wc.setConversation(conversationId, pinned, muted, hidden));
  }

  setDraft(conversationId: string, text: string): Promise<void> {
    if (typeof conversationId !== 'string' || conversationId === '') return Promise.reject(invalid('setDraft() needs a conversation id'));
    if (typeof text !== 'string') return Promise.reject(invalid('setDraft() needs the text'));
    return this.#call((wc) => wc.setDraft(conversationId, text));
  }

  async messages(conversationId: string, options: MessagesOptions = {}): Promise<Message[]> {
    if (typeof options !== 'object' || options === null) throw invalid('messages options must be an object');
    const before = options.beforeSeq ?? 0;
    const limit = options.limit ?? 50;
    checkCount(before, 'beforeSeq');
    checkCount(limit, 'limit');
    const signal = signalOf(options);
    return (await this.#call((wc) => wc.messages(conversationId, before, limit, signal))).filter(shown).map(toMessage);
  }

  async history(conversationId: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    if (typeof options !== 'object' || options === null) throw invalid('history options must be an object');
    const limit = options.limit ?? 50;
    checkCount(limit, 'limit');
    if (limit < 1 || limit > 500) throw invalid('limit must be 1 to 500');
    const before = options.beforeSeq ?? 0;
    checkCount(before, 'beforeSeq');
    const signal = signalOf(options);
    // The client reads on past the entries a page does not show, and knows
    // (offline too) whether messages this user may read are left older.
    const page = await this.#call((wc) => wc.history(conversationId, before, limit, signal));
    return { messages: page.messages.map(toMessage), hasMore: page.hasMore };
  }

  async search(text: string, options: SearchOptions = {}): Promise<Message[]> {
    if (typeof text !== 'string') throw invalid('search() needs the text to look for');
    if (typeof options !== 'object' || options === null) throw invalid('search options must be an object');
    const { conversationId, limit, before } = options;
    if (conversationId !== undefined && typeof conversationId !== 'string') throw invalid('conversationId must be a string');
    checkCount(limit, 'limit');
    const q: BridgeSearch = { text, conversationId, limit };
    if (before !== undefined) {
      // Only the cursor's fields cross, whatever else the object (a Message) holds.
      const b = before as Partial<SearchCursor> | null;
      if (typeof b !== 'object' || b === null || typeof b.conversationId !== 'string' || (b.clientId !== undefined && typeof b.clientId !== 'string')) {
        throw invalid('before must be the last message of the previous page');
      }
      checkCount(b.createdAt, 'before.createdAt');
      checkCount(b.seq, 'before.seq');
      q.before = { createdAt: b.createdAt ?? 0, conversationId: b.conversationId, seq: b.seq ?? 0, clientId: b.clientId };
    }
    return (await this.#call((wc) => wc.search(q))).map(toMessage);
  }

  markRead(conversationId: string, seq = 0): Promise<void> {
    try {
      checkCount(seq, 'seq');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#call((wc) => wc.markRead(conversationId, seq));
  }

  recall(messageId: string): Promise<void> {
    return this.#amend(messageId, 'recall', '');
  }

  edit(messageId: string, text: string): Promise<void> {
    if (typeof text !== 'string' || text === '') return Promise.reject(invalid('edit() needs the new text'));
    return this.#amend(messageId, 'edit', text);
  }

  deleteMessage(messageId: string, options: DeleteOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) return Promise.reject(invalid('deleteMessage options must be an object'));
    return this.#amend(messageId, options.forEveryone ? 'delete' : 'hide', '');
  }

  react(messageId: string, emoji: string): Promise<void> {
    return this.#amend(messageId, 'react', emoji);
  }

  unreact(messageId: string, emoji: string): Promise<void> {
    return this.#amend(messageId, 'unreact', emoji);
  }

  async readReceipts(conversationId: string, seq: number): Promise<ReadReceipts> {
    if (typeof conversationId !== 'string' || conversationId === '') throw invalid('readReceipts() needs a conversation id');
    checkCount(seq, 'seq');
    const r = await this.#call((wc) => wc.readReceipts(conversationId, seq));
    return { read: r.read ?? [], unread: r.unread ?? [] };
  }

  async #amend(messageId: string, op: string, text: string): Promise<void> {
    if (typeof messageId !== 'string' || messageId === '') throw invalid(`${op}: needs a message id`);
    if (typeof text !== 'string') throw invalid(`${op}: text must be a string`);
    await this.#call((wc) => wc.amend(messageId, op, text));
  }

  devices(): Promise<Device[]> {
    return this.#call((wc) => wc.devices());
  }

  kickDevice(deviceId: string): Promise<void> {
    if (typeof deviceId !== 'string' || deviceId === '') return Promise.reject(invalid('kickDevice() needs a device id'));
    return this.#call((wc) => wc.kickDevice(deviceId));
  }

  typing(conversationId: string): void {
    if (typeof conversationId !== 'string' || conversationId === '') throw invalid('typing() needs a conversation id');
    const err = this.#live().typing(conversationId);
    if (err) throw invalid(err);
  }

  async createGroup(name: string, members: string[], options: CreateGroupOptions = {}): Promise<Conversation> {
    if (typeof name !== 'string') throw invalid('createGroup() needs a name');
    if (!Array.isArray(members) || members.some((m) => typeof m !== 'string')) throw invalid('createGroup() needs an array of user ids');
    if (typeof options !== 'object' || options === null) throw invalid('createGroup options must be an object');
    const signal = signalOf(options);
    const info = groupInfo(options); // groups.ts
    if (info) return this.#conv(await this.#call((wc) => wc.createGroupWith(options.id ?? '', name, members, info, signal)));
    return this.#conv(await this.#call((wc) => wc.createGroup(options.id ?? '', name, members, signal)));
  }

  // Groups: groups.ts checks the arguments and builds the operation.
  async updateGroup(groupId: string, update: GroupUpdate): Promise<Conversation> {
    const c = await this.#call((wc) => wc.groupOp(updateOp(groupId, update)));
    if (!c) throw invalid('updateGroup(): no view of the group');
    return this.#conv(c);
  }
  addMembers(groupId: string, users: string[]): Promise<void> { return this.#op(() => usersOp('add', groupId, users)); }
  removeMembers(groupId: string, users: string[]): Promise<void> { return this.#op(() => usersOp('remove', groupId, users)); }
  leaveGroup(groupId: string): Promise<void> { return this.#op(() => plainOp('leave', groupId)); }
  dismissGroup(groupId: string): Promise<void> { return this.#op(() => plainOp('dismiss', groupId)); }
  transferGroup(groupId: string, user: string): Promise<void> { return this.#op(() => usersOp('transfer', groupId, [user])); }
  setRole(groupId: string, user: string, role: 'admin' | 'member'): Promise<void> { return this.#op(() => roleOp(groupId, user, role)); }
  muteMember(groupId: string, user: string, untilMs: number): Promise<void> { return this.#op(() => muteOp(groupId, user, untilMs)); }
  muteAll(groupId: string, on: boolean): Promise<void> { return this.#op(() => ({ ...plainOp('muteAll', groupId), on: flag(on, 'muteAll') })); }
  requestJoin(groupId: string, note = ''): Promise<void> { return this.#op(() => ({ ...plainOp('request', groupId), note: text(note, 'requestJoin() note') })); }
  answerJoin(groupId: string, user: string, accept: boolean): Promise<void> { return this.#op(() => ({ ...usersOp('answerJoin', groupId, [user]), on: flag(accept, 'answerJoin') })); }
  answerInvite(groupId: string, accept: boolean): Promise<void> { return this.#op(() => ({ ...plainOp('answerInvite', groupId), on: flag(accept, 'answerInvite') })); }
  invitations(): Promise<GroupNotice[]> { return this.#call((wc) => wc.pending('')); }
  joinRequests(groupId: string): Promise<GroupNotice[]> {
    try {
      plainOp('pending', groupId);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#call((wc) => wc.pending(groupId));
  }
  async members(groupId: string, options: MembersOptions = {}): Promise<Member[]> {
    const [after, limit] = membersArgs(groupId, options);
    return (await this.#call((wc) => wc.members(groupId, after, limit))).members;
  }
  async #op(build: () => BridgeGroupOp): Promise<void> {
    const op = build();
    await this.#call((wc) => wc.groupOp(op));
  }

  // Presence and profiles (presence.ts checks the arguments).
  setStatus(status?: string): Promise<void> {
    return checked(() => checkStatus(status)).then(() => this.#call((wc) => wc.setStatus(status ?? '')));
  }

  subscribePresence(users: string[], options: SubscribePresenceOptions = {}): Promise<Presence[]> {
    return checked(() => checkPresenceArgs('subscribePresence', users, options)).then((ttl) => this.#call((wc) => wc.subscribePresence(users, ttl)));
  }

  unsubscribePresence(users: string[]): Promise<void> {
    return checked(() => checkUsers('unsubscribePresence', users)).then(() => this.#call((wc) => wc.unsubscribePresence(users)));
  }

  setProfile(profile: ProfileUpdate): Promise<void> {
    return checked(() => checkProfile(profile)).then(() => this.#call(async (wc) => void (await wc.setProfile(profile))));
  }

  profiles(users: string[]): Promise<Profile[]> {
    return checked(() => checkUsers('profiles', users)).then(() => this.#call((wc) => wc.profiles(users)));
  }

  waitSynced(options: AbortOptions = {}): Promise<void> {
    let signal: AbortSignal | undefined;
    try {
      signal = signalOf(options);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#call((wc) => wc.waitSynced(signal));
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#calls.closeAll();
    for (const end of this.#muteEnds.values()) if (end.timer) clearTimeout(end.timer);
    this.#muteEnds.clear();
    this.uploader?.stop();
    this.#offPage?.();
    this.#offPage = null;
    const wc = this.#wc;
    try {
      if (wc) {
        this.#user = wc.userId();
        this.#device = wc.deviceId();
      }
    } catch {
      /* keep the last known ones */
    }
    try {
      if (wc) await wc.close();
    } catch (e) {
      throw toParleyError(e);
    } finally {
      this.claim?.release();
      if (this.ownStorage) await this.storage?.close().catch(() => {});
    }
  }
}

type Handler = (payload: never) => void;

/** signalOf reads and checks options.signal. */
function signalOf(options: AbortOptions | undefined): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  const s = options.signal as unknown;
  if (s === undefined) return undefined;
  if (typeof s !== 'object' || s === null || typeof (s as AbortSignal).addEventListener !== 'function' || typeof (s as AbortSignal).aborted !== 'boolean') {
    throw invalid('signal must be an AbortSignal');
  }
  return s as AbortSignal;
}

/**
 * watchPage follows what a browser page says about the network and its
 * own life: `online` redials at once (no backoff wait), and `offline`,
 * `online`, the page becoming visible again and `resume` (after a freeze)
 * probe the connection, so a dead one is noticed within PROBE_MS instead of
 * the heartbeat timeout. Returns the function that stops watching; outside
 * a page (Node, workers without a window) it watches nothing.
 */
function watchPage(reconnect: () => void, probe: (why: string) => void): (() => void) | null {
  type Target = { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
  const g = globalThis as Target & { window?: unknown; document?: Target & { visibilityState?: string } };
  if (g.window === undefined || typeof g.addEventListener !== 'function') return null;
  const doc = g.document;
  const listeners: [Target, string, () => void][] = [
    [g, 'online', () => { reconnect(); probe('online'); }],
    [g, 'offline', () => probe('offline')],
  ];
  if (doc && typeof doc.addEventListener === 'function') {
    listeners.push([doc, 'visibilitychange', () => { if (doc.visibilityState === 'visible') probe('page visible'); }]);
    listeners.push([doc, 'resume', () => probe('page resumed')]);
  }
  for (const [t, name, f] of listeners) t.addEventListener?.(name, f);
  return () => {
    for (const [t, name, f] of listeners) t.removeEventListener?.(name, f);
  };
}

function consoleLogger(level: Level, message: string): void {
  const fn = level === 'debug' ? console.debug : level === 'info' ? console.info : level === 'warn' ? console.warn : console.error;
  fn(`[parley] ${message}`);
}

function asLevel(level: string): Level {
  return level === 'debug' || level === 'info' || level === 'warn' ? level : 'error';
}

async function fetchToken(f: () => string | Promise<string>): Promise<string> {
  const t = await f();
  if (typeof t !== 'string' || t === '') throw new ParleyError(Codes.Unauthorized, 'the token function returned no token');
  return t;
}

function checkCount(v: unknown, name: string): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
    throw invalid(`${name} must be a non-negative integer`);
  }
}

function hasIndexedDB(): boolean {
  return typeof (globalThis as { indexedDB?: unknown }).indexedDB === 'object' && (globalThis as { indexedDB?: unknown }).indexedDB !== null;
}

function isAdapter(s: unknown): s is StorageAdapter {
  const a = s as Partial<Record<keyof StorageAdapter, unknown>> | null;
  return (
    typeof a === 'object' &&
    a !== null &&
    typeof a.load === 'function' &&
    typeof a.apply === 'function' &&
    typeof a.messages === 'function' &&
    typeof a.close === 'function'
  );
}

/** The platform a client says it is when the options do not: Node.js, or a browser-like host. */
function defaultPlatform(): string {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined' ? 'node' : 'web';
}
