/**
 * The contract between `parley.wasm` (Go, `sdk-wasm/wasm`) and this package.
 * Version 1. The calls are hand-written on purpose: they are the one place
 * both sides meet. The JSON that crosses them is generated from the Go types
 * into bridge.gen.ts.
 *
 * Start-up: the loader sets `globalThis.__parley_ready = resolve` and runs the
 * Go program; the program sets `globalThis.__parley_v1` to a {@link WasmBridgeV1}
 * and calls `__parley_ready()`. Nothing else is put on `globalThis`. (Here
 * `globalThis` is the program's global object: options.wasmGlobal when a host
 * gives one.)
 *
 * Data crosses the boundary as bytes, one call per operation: application data
 * (configs, events, messages, conversations, storage snapshots and batches) is
 * UTF-8 JSON in a `Uint8Array`, of the types in bridge.gen.ts.
 * Wire frames never cross: the Go side owns the WebSocket (the host's
 * `WebSocket` constructor).
 *
 * Every method returning a Promise rejects with a {@link WasmError}; a Go panic
 * in a call becomes a rejection with code 4905. No callback from Go into JS is
 * made while a JS call into Go is on the stack (events are queued and
 * delivered from the Go side's event goroutine, in order).
 * @internal
 */
import type { BridgeConfig, BridgeEvent, BridgeSearch, StorageSearchQuery, StorageSnapshot, StorageBatch, StoredMessage, StoredConversation } from './bridge.gen.js';

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
  /** JSON {@link StorageSnapshot}, or null when the store is empty. */
  load(): Promise<Uint8Array | null>;
  /** Applies JSON {@link StorageBatch} atomically (one transaction). */
  apply(batch: Uint8Array): Promise<void>;
  /** JSON {@link StoredMessage}[]: sent messages of conv with seq < before (0: newest), at most limit, ascending by seq. */
  messages(conv: string, before: number, limit: number): Promise<Uint8Array>;
  /** JSON {@link StorageSearchQuery} in, JSON {@link StoredMessage}[] newest first out (StorageAdapter.search). Optional. */
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
  /** "" when sent or dropped (best-effort), else why the argument is invalid. */
  typing(conversationId: string): string;
  state(): 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';
  userId(): string;
  deviceId(): string;
  /**
   * The id of the one-to-one conversation with `peer`, from the Go core
   * (proto.P2PID); '' while the user id is not known yet or when `peer` is
   * not a valid user id.
   */
  p2p(peer: string): string;
  /** Queues a message; resolves with JSON StoredMessage once acknowledged. */
  send(conv: string, type: string, text: string, body: Uint8Array | null): Promise<Uint8Array>;
  resend(clientId: string): Promise<Uint8Array>;
  discard(clientId: string): Promise<void>;
  markRead(conv: string, seq: number): Promise<void>;
  /** id '' lets the client choose one. Resolves with JSON StoredConversation. */
  createGroup(id: string, name: string, members: string[]): Promise<Uint8Array>;
  /** JSON StoredConversation[], most recent first, from the cache. */
  conversations(): Promise<Uint8Array>;
  /** JSON StoredMessage[] ascending: cache first, relay for what the cache lacks; pending ones last when before is 0. */
  messages(conv: string, before: number, limit: number): Promise<Uint8Array>;
  /**
   * JSON {@link BridgeSearch} in; JSON StoredMessage[] newest first out: the
   * store's matches with the outbox's merged in. Rejects with 4903 on bad
   * arguments (core.NewSearch), 4215 when the storage has no search.
   */
  search(search: Uint8Array): Promise<Uint8Array>;
  /** Resolves when connected with nothing left to sync, fill or send. */
  waitSynced(): Promise<void>;
}

declare global {
  // eslint-disable-next-line no-var
  var __parley_v1: WasmBridgeV1 | undefined;
  // eslint-disable-next-line no-var
  var __parley_ready: (() => void) | undefined;
}
