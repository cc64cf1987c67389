/**
 * The contract between `parley.wasm` (Go, `sdk-wasm/wasm`) and this package.
 * Version 1. Hand-written on purpose: it is the one place both sides meet.
 *
 * Start-up: the loader sets `globalThis.__parley_ready = resolve` and runs the
 * Go program; the program sets `globalThis.__parley_v1` to a {@link WasmBridgeV1}
 * and calls `__parley_ready()`. Nothing else is put on `globalThis`. (Here
 * `globalThis` is the program's global object: options.wasmGlobal when a host
 * gives one.)
 *
 * Data crosses the boundary as bytes, one call per operation: application data
 * (configs, events, messages, conversations, storage snapshots and batches) is
 * UTF-8 JSON in a `Uint8Array`, with the field names of the JSON types below.
 * Wire frames never cross: the Go side owns the WebSocket (the host's
 * `WebSocket` constructor, through coder/websocket's js build).
 *
 * Every method returning a Promise rejects with a {@link WasmError}; a Go panic
 * in a call becomes a rejection with code 4905. No callback from Go into JS is
 * made while a JS call into Go is on the stack (events are queued and
 * delivered from the Go side's event goroutine, in order).
 * @internal
 */

/** @internal */
export interface WasmError {
  code: number;
  message: string;
}

/** @internal */
export interface WasmBridgeV1 {
  readonly version: 1;
  /** The wire protocol version the module speaks (proto.Version). */
  readonly protocol: number;
  /**
   * Creates a client. `config` is JSON {@link BridgeConfig}. On a bad config
   * (or host) it returns a WasmError instead of a client, which the caller
   * throws: Go cannot throw into its JS caller (an exception cannot cross Go
   * frames), so the WasmError is the return value.
   */
  newClient(config: Uint8Array, host: WasmHost): WasmClient | WasmError;
}

/** JSON given to newClient. Durations in milliseconds; zero or absent means the Go default. @internal */
export interface BridgeConfig {
  url: string;
  deviceId?: string;
  heartbeatMs?: number;
  requestTimeoutMs?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  maxAttempts?: number;
  sendWindow?: number;
  /** host.token() may be called before every dial and returns a fresh token. */
  tokenRefresh: boolean;
  /** Seeds backoff jitter and client ids (tests). 0 or absent: random. */
  seed?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

/** What the host (this package) gives the Go client. @internal */
export interface WasmHost {
  /** Every event, JSON {@link BridgeEvent}, in order. Must not throw. */
  onEvent(event: Uint8Array): void;
  /** The token for the next dial. A rejection counts as a failed dial (retried). */
  token(): Promise<string>;
  /** Persistent cache, or null to keep the cache in Go memory (Node, tests). */
  storage: WasmStorage | null;
  /** Diagnostics at or above config.logLevel. */
  log?(level: string, message: string): void;
}

/**
 * A persistent cache the Go core writes through. Implementations: IndexedDB
 * (browsers), files (mini-programs), AsyncStorage/SQLite (React Native).
 * @internal
 */
export interface WasmStorage {
  /** JSON {@link BridgeSnapshot}, or null when the store is empty. */
  load(): Promise<Uint8Array | null>;
  /** Applies JSON {@link BridgeBatch} atomically (one transaction). */
  apply(batch: Uint8Array): Promise<void>;
  /** JSON BridgeMessage[]: sent messages of conv with seq < before (0: newest), at most limit, ascending by seq. */
  messages(conv: string, before: number, limit: number): Promise<Uint8Array>;
  /** JSON {@link BridgeSearchQuery} in, JSON BridgeMessage[] newest first out (StorageAdapter.search). Optional. */
  search?(query: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A client inside the wasm module. @internal */
export interface WasmClient {
  /** Starts connecting; resolves once welcomed, rejects on a terminal close. */
  connect(): Promise<void>;
  /** Closes the session and releases the client; the outbox stays in storage. */
  close(): Promise<void>;
  /** Dials now if waiting to retry (e.g. the browser went online). */
  reconnect(): void;
  state(): 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';
  userId(): string;
  deviceId(): string;
  /** Queues a message; resolves with JSON BridgeMessage once acknowledged. */
  send(conv: string, type: string, text: string, body: Uint8Array | null): Promise<Uint8Array>;
  resend(clientId: string): Promise<Uint8Array>;
  discard(clientId: string): Promise<void>;
  markRead(conv: string, seq: number): Promise<void>;
  /** id '' lets the client choose one. Resolves with JSON BridgeConversation. */
  createGroup(id: string, name: string, members: string[]): Promise<Uint8Array>;
  /** JSON BridgeConversation[], most recent first, from the cache. */
  conversations(): Promise<Uint8Array>;
  /** JSON BridgeMessage[] ascending: cache first, relay for what the cache lacks; pending ones last when before is 0. */
  messages(conv: string, before: number, limit: number): Promise<Uint8Array>;
  /**
   * JSON {@link BridgeSearch} in; JSON BridgeMessage[] newest first out: the
   * store's matches with the outbox's merged in. Rejects with 4903 on bad
   * arguments (core.NewSearch), 4215 when the storage has no search.
   */
  search(search: Uint8Array): Promise<Uint8Array>;
  /** Resolves when connected with nothing left to sync, fill or send. */
  waitSynced(): Promise<void>;
}

/** JSON of Go core.SearchCursor. @internal */
export interface BridgeSearchCursor {
  createdAt: number;
  conversationId: string;
  seq: number;
  clientId?: string;
}

/** What WasmClient.search takes: the text as typed and core.SearchOptions. @internal */
export interface BridgeSearch {
  text: string;
  conversationId?: string;
  limit?: number;
  before?: BridgeSearchCursor;
}

/** JSON of Go core.SearchQuery: validated, text folded. @internal */
export interface BridgeSearchQuery {
  text: string;
  conversationId?: string;
  before?: BridgeSearchCursor;
  limit: number;
}

/** JSON of Go core.Message. `body` is base64. @internal */
export interface BridgeMessage {
  id: string;
  clientId: string;
  conversationId: string;
  seq: number;
  sender: string;
  device?: string;
  type: string;
  text?: string;
  body?: string;
  createdAt: number;
  localTime?: number;
  status: 'pending' | 'sent' | 'failed';
  errorCode?: number;
}

/** JSON of Go core.Conversation. @internal */
export interface BridgeConversation {
  id: string;
  type: 'p2p' | 'group' | 'room';
  name?: string;
  members?: string[];
  lastMessage?: BridgeMessage;
  lastSeq: number;
  readSeq: number;
  unread: number;
  syncedSeq: number;
  version: number;
}

/** JSON of Go core.Event. @internal */
export interface BridgeEvent {
  kind: 'state' | 'message' | 'messageUpdate' | 'conversation' | 'syncStart' | 'syncEnd' | 'kicked' | 'tokenWillExpire' | 'reset';
  state?: string;
  code?: number;
  reason?: string;
  message?: BridgeMessage;
  conversation?: BridgeConversation;
}

/** JSON of Go core.Snapshot / core.Batch (see sdk-wasm/core/types.go). @internal */
export interface BridgeMeta {
  deviceId: string;
  userId: string;
  epoch: string;
  syncCursor: number;
  nextOrder: number;
}
/** @internal */
export interface BridgeOutboxEntry {
  order: number;
  message: BridgeMessage;
}
/** @internal */
export interface BridgeSnapshot {
  meta: BridgeMeta;
  conversations: BridgeConversation[] | null;
  outbox: BridgeOutboxEntry[] | null;
}
/** @internal */
export interface BridgeBatch {
  reset?: boolean;
  meta?: BridgeMeta;
  conversations?: BridgeConversation[];
  messages?: BridgeMessage[];
  outboxPut?: BridgeOutboxEntry[];
  outboxDelete?: string[];
}

declare global {
  // eslint-disable-next-line no-var
  var __parley_v1: WasmBridgeV1 | undefined;
  // eslint-disable-next-line no-var
  var __parley_ready: (() => void) | undefined;
}
