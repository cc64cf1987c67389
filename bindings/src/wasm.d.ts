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
 * Data crosses the boundary as plain objects, one call per operation:
 * application data (configs, events, messages, conversations, storage
 * snapshots and batches) are objects of the types in bridge.gen.ts, built on
 * the Go side with one JSON.parse of text it writes without reflection, and
 * read there field by field. A message body stays base64 in them, as stored.
 * Wire frames never cross: the Go side owns the WebSocket (the host's
 * `WebSocket` constructor).
 *
 * Every method returning a Promise rejects with a {@link WasmError}; a Go panic
 * in a call becomes a rejection with code 4905. No callback from Go into JS is
 * made while a JS call into Go is on the stack (events are queued and
 * delivered from the Go side's event goroutine, in order).
 * @internal
 */
import type { BridgeCall, BridgeConfig, BridgeEvent, BridgeSearch, Device, StorageSearchQuery, StorageSnapshot, StorageBatch, StoredMessage, StoredConversation, Relation, GroupNotice, Member, Presence, Profile } from './bridge.gen.js';
import type { BridgeGroupOp } from './groups.js';

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
   * Creates a client from a {@link BridgeConfig}. On a bad config
   * (or host) it returns a WasmError instead of a client, which the caller
   * throws: Go cannot throw into its JS caller (an exception cannot cross Go
   * frames), so the WasmError is the return value.
   */
  newClient(config: BridgeConfig, host: WasmHost): WasmClient | WasmError;
}

/** What the host (this package) gives the Go client. @internal */
export interface WasmHost {
  /** Every event, in order. Must not throw. */
  onEvent(event: BridgeEvent): void;
  /**
   * Consecutive events, in order, in one call: when present the module
   * calls it instead of onEvent, with every event queued together (a sync
   * page's messages cross in one call, not hundreds). Must not throw.
   */
  onEvents?(events: BridgeEvent[], stored?: Record<string, StoredMessage[]>): void;
  /**
   * Set when the storage leaves the batches it is given unchanged (the
   * IndexedDB adapter): the event of a message written in a batch then
   * names it there, `stored: [batch, index]` in place of `message`, and
   * onEvents gets the messages of those batches as the storage got them
   * (`stored[batch][index]`), instead of a second parse of each message.
   */
  sharesBatches?: boolean;
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
  /** The {@link StorageSnapshot}, or null when the store is empty. */
  load(): Promise<StorageSnapshot | null>;
  /**
   * Applies a {@link StorageBatch} atomically (one transaction). Called again
   * before the previous call settled (up to 3 batches in flight): batches
   * must land in the order of the calls, and every later call (apply,
   * messages, search, close) must find them applied.
   */
  apply(batch: StorageBatch): Promise<void>;
  /** Sent messages of conv with seq < before (0: newest), at most limit, ascending by seq. */
  messages(conv: string, before: number, limit: number): Promise<StoredMessage[]>;
  /** Matches of the query, newest first (StorageAdapter.search). Optional. */
  search?(query: StorageSearchQuery): Promise<StoredMessage[]>;
  close(): Promise<void>;
}

/** A client inside the wasm module. @internal */
export interface WasmClient {
  /**
   * Starts connecting; resolves once welcomed, rejects on a terminal close,
   * with 4906 after config.connectTimeoutMs (still trying), with 4908 when
   * `signal` aborts.
   */
  connect(signal?: AbortSignal): Promise<void>;
  /** Closes the session and releases the client; the outbox stays in storage. */
  close(): Promise<void>;
  /** Dials now if waiting to retry (e.g. the browser went online). */
  reconnect(): void;
  /** Pings now; a connection silent for timeoutMs is dropped and redialled (the page says the network changed). */
  probe(timeoutMs: number): void;
  /** "" when sent or dropped (best-effort), else why the argument is invalid. */
  typing(conversationId: string): string;
  setStatus(status: string): Promise<void>;
  subscribePresence(users: string[], ttlMs: number): Promise<Presence[]>;
  unsubscribePresence(users: string[]): Promise<void>;
  setProfile(profile: { nickname?: string; avatar?: string; custom?: string }): Promise<Profile[]>;
  profiles(users: string[]): Promise<Profile[]>;
  state(): 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';
  userId(): string;
  deviceId(): string;
  /**
   * The id of the one-to-one conversation with `peer`, from the Go core
   * (proto.P2PID); '' while the user id is not known yet or when `peer` is
   * not a valid user id.
   */
  p2p(peer: string): string;
  /**
   * Queues a message (clientId '' or undefined: the client chooses one);
   * resolves with the StoredMessage once acknowledged. The pending message
   * event comes first. Aborting `signal` discards it from the outbox (4908).
   */
  send(conv: string, type: string, text: string, body: Uint8Array | null, clientId?: string, signal?: AbortSignal, replyTo?: string, mentions?: string[]): Promise<StoredMessage>;
  /** Recall, delete, edit, react, unreact or hide (op) message id; resolves with the stored event. */
  amend(messageId: string, op: string, text: string): Promise<StoredMessage>;
  /** The other members by whether they read conv up to seq. */
  readReceipts(conv: string, seq: number): Promise<{ read: string[]; unread: string[] }>;
  resend(clientId: string): Promise<StoredMessage>;
  /** Queues an attachment message that waits in the outbox for attachmentUploaded; resolves on ack. */
  sendAttachment(conv: string, type: string, text: string, clientId: string, name: string, size: number, mime: string, width: number, height: number, durationMs: number, signal?: AbortSignal): Promise<StoredMessage>;
  /** The relay answered the upload of clientId's file: the message goes out. */
  attachmentUploaded(clientId: string, id: string, size: number, mime: string): Promise<void>;
  /** The upload of clientId's file failed for good: the message fails with code. */
  uploadFailed(clientId: string, code: number, reason: string): Promise<void>;
  /** The outbox messages whose file is still to be uploaded. */
  awaitingUpload(): Promise<StoredMessage[]>;
  discard(clientId: string): Promise<void>;
  markRead(conv: string, seq: number): Promise<void>;
  /** Device[] of the user's open sessions, oldest first. */
  devices(): Promise<Device[]>;
  kickDevice(deviceId: string): Promise<void>;
  /** id '' lets the client choose one. Resolves with the StoredConversation. */
  createGroup(id: string, name: string, members: string[], signal?: AbortSignal): Promise<StoredConversation>;
  /** createGroup with the group's information. */
  createGroupWith(id: string, name: string, members: string[], info: { avatar?: string; notice?: string; custom?: string; joinPolicy?: string }, signal?: AbortSignal): Promise<StoredConversation>;
  /** A group operation (proto.GroupOp); resolves with the StoredConversation, or null when this user has no view of the group. */
  groupOp(op: BridgeGroupOp, signal?: AbortSignal): Promise<StoredConversation | null>;
  members(conv: string, after: string, limit: number, signal?: AbortSignal): Promise<{ members: Member[]; more: boolean }>;
  /** conv '' for this user's invitations, else the group's join requests. */
  pending(conv: string, signal?: AbortSignal): Promise<GroupNotice[]>;
  /** The StoredConversation from the cache, or null. */
  conversation(id: string): Promise<StoredConversation | null>;
  /** StoredConversation[], most recent first, from the cache. */
  conversations(): Promise<StoredConversation[]>;
  /** StoredMessage[] ascending: cache first, relay for what the cache lacks; pending ones last when before is 0. */
  messages(conv: string, before: number, limit: number, signal?: AbortSignal): Promise<StoredMessage[]>;
  /**
   * The sent messages of messages() shown to this user (no lifecycle events,
   * none deleted for me), read on past those not shown until limit are held
   * or seq 1 was read; hasMore says whether older ones may be left (offline:
   * whether seqs this user may read are left below the page; the relay has
   * what the cache lacks).
   */
  history(conv: string, before: number, limit: number, signal?: AbortSignal): Promise<{ messages: StoredMessage[]; hasMore: boolean }>;
  /**
   * StoredMessage[] newest first: the store's matches with the outbox's
   * merged in. Rejects with 4903 on bad
   * arguments (core.NewSearch), 4215 when the storage has no search.
   */
  search(search: BridgeSearch): Promise<StoredMessage[]>;
  /** Resolves when connected with nothing left to sync, fill or send. */
  waitSynced(signal?: AbortSignal): Promise<void>;
  /** Rings the conversation's other members; resolves with the call and its ICE servers. */
  placeCall(conv: string, audio: boolean, video: boolean, signal?: AbortSignal): Promise<BridgeCall>;
  /** Answers a call ringing on this device; resolves with its ICE servers and the peers in it. */
  acceptCall(callId: string, audio: boolean, video: boolean): Promise<BridgeCall>;
  /** Cancels, rejects or hangs up. */
  endCall(callId: string): Promise<void>;
  /** Sends an SDP ('offer', 'answer') or a candidate (RTCIceCandidateInit JSON) to peer. */
  signalCall(callId: string, peer: string, kind: 'offer' | 'answer' | 'candidate', data: string): Promise<void>;
  /** The media of the call connected. */
  callConnected(callId: string): void;
  /** A contact operation: request (with note), accept, decline, remove, block, unblock. */
  contact(op: string, user: string, note: string): Promise<void>;
  /** Relation[] from the cache, by user id. */
  relations(): Promise<Relation[]>;
  /** undefined leaves a setting as it is. */
  setConversation(conv: string, pinned: boolean | undefined, muted: boolean | undefined, hidden: boolean | undefined): Promise<void>;
  setContactsOnly(on: boolean): Promise<void>;
  contactsOnly(): Promise<boolean>;
  setDraft(conv: string, text: string): Promise<void>;
  /** Unread messages of the conversations neither muted nor hidden. */
  totalUnread(): Promise<number>;
}

declare global {
  // eslint-disable-next-line no-var
  var __parley_v1: WasmBridgeV1 | undefined;
  // eslint-disable-next-line no-var
  var __parley_ready: (() => void) | undefined;
}
