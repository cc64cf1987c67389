// Public types of @parley-im/sdk. Everything here is part of the public
// contract. The shapes a storage adapter reads and writes are the JSON of the
// Go client's types, generated into bridge.gen.ts and re-exported here; the
// calls of the wasm bridge live in wasm.d.ts.
import type { ConnectionState, ContactAnswerEvent, Device, GroupNotice, Member, MessageStatus, Presence, Profile, Relation, SearchCursor, StorageBatch, StorageSearchQuery, StorageSnapshot, StoredMessage, TypingEvent } from './bridge.gen.js';

export type {
  ConnectionState,
  Device,
  MessageStatus,
  OutboxEntry,
  SearchCursor,
  StorageBatch,
  StorageMeta,
  StorageSearchQuery,
  StorageSnapshot,
  StoredConversation,
  StoredMessage,
  TypingEvent,
  Relation,
  ContactAnswerEvent,
  StorageAccount,
  StoredConvSetting,
  StoredDraft,
  Presence,
  Profile,
} from './bridge.gen.js';

/** The kind of a conversation. */
export type ConversationType = 'p2p' | 'group';

/** Diagnostics at or above this level are logged. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** A conversation message. */
export interface Message {
  /** Stable id: `conversationId#seq` once sent, `local:<clientId>` while pending. */
  id: string;
  /** Id chosen by the sending client; retries of a send share it, so the relay stores the message once. */
  clientId: string;
  conversationId: string;
  /** Position in the conversation, contiguous and increasing; 0 while pending. */
  seq: number;
  /** User id of the sender. */
  sender: string;
  /**
   * `'text'`, `'custom'`, `'image'`, `'file'`, `'audio'`, `'video'`, `'location'`, `'call'` (a call's record) or
   * `'system'` (the relay's group notices) today; a newer relay may add types, so handle unknown ones.
   */
  type: string;
  /** The text of a text message. */
  text?: string;
  /**
   * The body of a non-text message. A body that is UTF-8 JSON (what
   * {@link ParleyClient.send} writes) is given parsed; any other body is given
   * as the raw bytes.
   */
  body?: unknown;
  /** Unix milliseconds: the relay's time once sent, this device's while pending. */
  createdAt: number;
  /** Unix milliseconds when this device created the message (absent for others' messages). */
  localTime?: number;
  status: MessageStatus;
  /** Why the relay refused the message, when `status` is `'failed'` (see {@link Codes}). */
  errorCode?: number;
  /** The id of the message of the same conversation this one answers. */
  replyTo?: string;
  /** Who this message mentions: user ids, or `'all'` for every member. */
  mentions?: string[] | 'all';
  /** Recalled (or deleted for everyone): its text and body are gone from every device and the relay. */
  recalled?: boolean;
  /** Unix milliseconds of the last edit; the seq and id stay. */
  editedAt?: number;
  /** Reactions: emoji → the users who reacted with it, in the order they did. */
  reactions?: Record<string, string[]>;
  /** Deleted for me ({@link ParleyClient.deleteMessage}): a `messageUpdate` with it set means "remove from the list". */
  hidden?: boolean;
  /**
   * The file of an image, file, audio or video message. `id` is empty while
   * the upload runs; {@link ParleyClient.download} fetches the bytes.
   */
  attachment?: Attachment;
}

/** The file of an image, file, audio or video message. */
export interface Attachment {
  /** The relay's upload id; empty while the upload is pending. */
  id: string;
  /** File name. */
  name: string;
  /** Bytes. */
  size: number;
  /** Media type, e.g. `image/png`. */
  mime: string;
  width?: number;
  height?: number;
  durationMs?: number;
}

/**
 * An image, file, audio or video message for {@link ParleyClient.send}: the
 * file is uploaded to the relay first (progress through
 * {@link SendOptions.onProgress}), the message waits in the outbox until
 * the upload is done, and an upload cut by the network or a reload starts
 * over.
 */
export interface OutgoingAttachment {
  type: 'image' | 'file' | 'audio' | 'video';
  file: Blob | Uint8Array;
  /** File name; defaults to the File's name, else `file`. */
  name?: string;
  /** Media type; defaults to the Blob's type, else `application/octet-stream`. */
  mime?: string;
  width?: number;
  height?: number;
  durationMs?: number;
  /** A caption. */
  text?: string;
  /** As {@link OutgoingMessage.clientId}. */
  clientId?: string;
}

/** Options of {@link ParleyClient.send}. */
export interface SendOptions extends AbortOptions {
  /** Called as an attachment's bytes go up: (bytes sent, bytes in all). */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** The local view of a conversation. */
export interface Conversation {
  /** `p:<a>:<b>` for one-to-one conversations (see {@link ParleyClient.p2p}), `g:<name>` for groups. */
  id: string;
  type: ConversationType;
  /** Display name of a group. */
  name?: string;
  /** User ids of the members (may be empty when the relay did not send them). */
  members: string[];
  /** The newest message, when one is known. */
  lastMessage?: Message;
  /** Highest seq known to exist on the relay. */
  lastSeq: number;
  /** This user's read cursor: every message with seq ≤ readSeq is read. */
  readSeq: number;
  /** `lastSeq - readSeq`; own messages advance the read cursor, so they never count. */
  unread: number;
  /** An unread message of another user mentions this user (or everyone): the "[@me]" badge. */
  mentioned: boolean;
  /** One-to-one: the other member's read cursor; every message of mine with seq ≤ it was read (✓✓). 0 in groups (see {@link ParleyClient.readReceipts}). */
  peerReadSeq: number;
  /** Pinned by this user (on all of the user's devices): listed first by {@link ParleyClient.conversations}. */
  pinned?: boolean;
  /** Notifications muted by this user (on all of the user's devices): not counted by {@link ParleyClient.totalUnread}. */
  muted?: boolean;
  /**
   * Hidden by this user: left out of {@link ParleyClient.conversations} and
   * {@link ParleyClient.totalUnread} until a newer message arrives, which shows
   * it again on every device.
   */
  hidden?: boolean;
  /** The unsent text kept by {@link ParleyClient.setDraft}, on this device only. */
  draft?: string;
  /** This user's role in a group; absent once no longer a member (removed, left, dismissed): the group then shows its history up to that point only. */
  role?: GroupRole;
  /** A group's avatar (a URL or a key). */
  avatar?: string;
  /** A group's notice board. */
  notice?: string;
  /** A group's application data (e.g. JSON). */
  custom?: string;
  /** How users come into a group. */
  joinPolicy?: JoinPolicy;
  /**
   * This user is muted in the group now (sends are refused with 4224 until
   * {@link Conversation.mutedUntil}). When the mute runs out the client
   * emits the `conversation` event again, with this false.
   */
  mutedInGroup?: boolean;
  /** Unix ms until which this user may not speak in the group. */
  mutedUntil?: number;
  /** Only admins and the owner may speak in the group. */
  muteAll?: boolean;
}

/** What {@link ParleyClient.setConversation} changes; an absent field keeps its value. */
export interface ConversationSettings {
  pinned?: boolean;
  muted?: boolean;
  hidden?: boolean;
}

/** Payload of the `contactRequest` event. */
export interface ContactRequestEvent {
  /** Who asks to be a contact. */
  user: string;
  /** Their note, when they wrote one. */
  note?: string;
}

/** What to send with {@link ParleyClient.send}. */
export interface OutgoingMessage {
  /**
   * `'text'` (needs `text`), `'custom'` (an application payload in `body`,
   * optionally with `text`) or `'location'` (`body: { lat, lng, title? }`,
   * checked by the relay).
   */
  type: 'text' | 'custom' | 'location';
  /** The text of a text message. */
  text?: string;
  /**
   * Any JSON-serialisable value, sent as UTF-8 JSON and given back parsed on
   * every device. A `Uint8Array` is sent as is (raw bytes).
   */
  body?: unknown;
  /**
   * The message's client id, 1 to 64 of `[A-Za-z0-9_.@-]`. Defaults to one
   * the client chooses. Choosing it lets the application key the pending
   * message (`local:<clientId>`) before the call settles; sending again with
   * an id still in the outbox queues nothing twice, and the relay stores a
   * client id once per sender.
   */
  clientId?: string;
  /** Answers an earlier message of the same conversation: its id (`conversationId#seq`). */
  replyTo?: string;
  /** Mentions these users (their conversation gets `mentioned`), or `'all'` members. */
  mentions?: string[] | 'all';
}

/** Options of {@link ParleyClient.deleteMessage}. */
export interface DeleteOptions {
  /**
   * Delete for every member, as a recall: the sender within the relay's
   * recall window, a group's owner or admins at any time. Defaults to false:
   * the message is hidden on this user's devices only.
   */
  forEveryone?: boolean;
}

/** What {@link ParleyClient.readReceipts} resolves with: the other members, by whether they have read up to the seq. */
export interface ReadReceipts {
  read: string[];
  unread: string[];
}

/** Cancels an operation: `{ signal: controller.signal }`. */
export interface AbortOptions {
  /**
   * Aborting rejects the operation with {@link Codes}.Aborted (4908). An
   * operation not yet written to the relay (a group asked for offline, a
   * message still in the outbox) is never written; one already written may
   * still complete on the relay.
   */
  signal?: AbortSignal;
}

/** Options of {@link ParleyClient.sendText}. */
export interface SendTextOptions extends AbortOptions {
  /** The message's client id; see {@link OutgoingMessage.clientId}. */
  clientId?: string;
}

/** Options of {@link ParleyClient.history}. */
export interface HistoryOptions extends AbortOptions {
  /** Only messages with seq < beforeSeq. Defaults to 0: the newest (pending messages are not included). */
  beforeSeq?: number;
  /** At most this many messages. Defaults to 50; at most 500. */
  limit?: number;
}

/** A page of {@link ParleyClient.history}. */
export interface HistoryPage {
  /** Sent messages ascending by seq. */
  messages: Message[];
  /**
   * Whether older messages may exist: page on with `beforeSeq: messages[0].seq`.
   * Offline it stays true while the relay may hold older messages this user
   * can read that the cache lacks.
   */
  hasMore: boolean;
}

/** Payload of the `state` event. */
export interface StateEvent {
  state: ConnectionState;
  /** The close or error code behind the change, when there is one. */
  code?: number;
  reason?: string;
}

/** Payload of the `kicked` event: the session ended for good and will not reconnect. */
export interface KickedEvent {
  /** {@link Codes}.Kicked, DeviceKicked, DevicePolicy, TokenRevoked, Unauthorized, TokenExpired, … */
  code: number;
  reason: string;
}

/** Payload of the `syncStart` and `syncEnd` events. */
export interface SyncEvent {
  /** Set on `syncEnd` when the sync stopped on an error: the connection was lost before it finished. */
  code?: number;
  reason?: string;
}

/** Every event and its payload, for {@link ParleyClient.on}. */
export interface ClientEvents {
  /** The connection state changed. */
  state: StateEvent;
  /** A new message in any conversation, own messages from other devices included. */
  message: Message;
  /** A message changed status: pending → sent, or pending → failed. */
  messageUpdate: Message;
  /** A conversation was created or changed (last message, unread, name, members). */
  conversation: Conversation;
  /** A sync with the relay started. */
  syncStart: SyncEvent;
  /**
   * The sync finished: the cache is up to date with the relay. When the
   * connection was lost before it finished, `code` and `reason` say why
   * (the close code, or 4901 NotConnected), and the next connection's sync
   * starts with a `syncStart` of its own.
   */
  syncEnd: SyncEvent;
  /** Another device took over or the token was refused: no auto-reconnect. */
  kicked: KickedEvent;
  /** The token expires soon; with a token function the client fetches a new one by itself. */
  tokenWillExpire: undefined;
  /** The relay's store was reset or restored: the local cache was dropped and is being rebuilt. */
  reset: undefined;
  /**
   * Another member types in a conversation (see {@link ParleyClient.typing}).
   * Transient: nothing is stored and nothing says the typing stopped — show it
   * for about 5 s after the last one.
   */
  typing: TypingEvent;
  /** A call rings this device (state `'ringing'`): answer with {@link Call.accept} or {@link Call.reject}. */
  call: Call;
  /** Another user asks this user to be a contact: answer with {@link ParleyClient.answerContact}. */
  contactRequest: ContactRequestEvent;
  /** Another user accepted or declined (or the request was withdrawn) this user's contact request. */
  contactAnswer: ContactAnswerEvent;
  /** A relation changed — contact, request, block — here, on another of the user's devices, or by the other user. */
  contact: Relation;
  /**
   * This user is invited into a group (relay policy `consent`, or contacts only): answer with
   * {@link ParleyClient.answerInvite}. Invitations come from the user feed, so a device that was
   * offline gets them when it reconnects; once answered (on any device) or ended, the event comes
   * again with `done: true`.
   */
  invitation: GroupNotice;
  /**
   * A user asks to join a group this user administers: answer with {@link ParleyClient.answerJoin}.
   * Like invitations, synced to every device of every admin; `done: true` once answered or ended.
   */
  joinRequest: GroupNotice;
  /** The total of {@link ParleyClient.totalUnread} changed; the payload is the new total. */
  totalUnread: number;
  /**
   * A user this user subscribed to (on any of their devices) went online or
   * offline, or changed their status; after a reconnect, the presence of each
   * user this device subscribed to (see {@link ParleyClient.subscribePresence}).
   */
  presence: Presence;
  /**
   * A profile changed: this user's own (set on another device) or that of a
   * user this user subscribed to. The cache already holds it.
   */
  profile: Profile;
}

/** A name in {@link ClientEvents}. */
export type ClientEventName = keyof ClientEvents;

/** Options of {@link ParleyClient.messages}. */
export interface MessagesOptions extends AbortOptions {
  /** Only messages with seq < beforeSeq. Defaults to 0: the newest, followed by the pending ones. */
  beforeSeq?: number;
  /** At most this many (sent) messages. Defaults to 50; the relay caps a page at 500. */
  limit?: number;
}

/** Options of {@link ParleyClient.search}. */
export interface SearchOptions {
  /** Only messages of this conversation. Defaults to every conversation. */
  conversationId?: string;
  /** At most this many messages. Defaults to 20; at most 100. */
  limit?: number;
  /** The page after this position: the last message of the previous page. Defaults to the newest messages. */
  before?: SearchCursor;
}

/** Options of {@link ParleyClient.createGroup}. */
export interface CreateGroupOptions extends AbortOptions {
  /** The group's id, `g:<user>.<name>` with this user's id. By default the relay names every group and refuses a chosen id (4258); a relay run with `--group-ids client` accepts one in this user's namespace, and a retry with the same id is idempotent. Leave it out to let the relay name the group: the request then carries an idempotency key, so a retry never creates a second group. */
  id?: string;
  /** The group's avatar (a URL or a key, at most 1 KiB). */
  avatar?: string;
  /** The group's notice board (at most 4 KiB). */
  notice?: string;
  /** Application data (at most 4 KiB). */
  custom?: string;
  /** How users come in. Defaults to `'invite'`. */
  joinPolicy?: JoinPolicy;
}

/** A role in a group: owner > admin > member. Nobody acts on an equal or higher role. */
export type GroupRole = 'owner' | 'admin' | 'member';

/** How users come into a group: added by an admin (`invite`), by a join request an admin accepts (`approval`), or by anyone (`open`, where any member may add others). */
export type JoinPolicy = 'invite' | 'approval' | 'open';

/** What {@link ParleyClient.updateGroup} changes; an absent field keeps its value. */
export interface GroupUpdate {
  name?: string;
  avatar?: string;
  notice?: string;
  custom?: string;
  joinPolicy?: JoinPolicy;
}

/** A page of {@link ParleyClient.members}. */
export interface MembersOptions {
  /** The user id the page starts after (members come in user id order). */
  after?: string;
  /** At most this many; the relay caps it at 500. Defaults to 500. */
  limit?: number;
}

export type { GroupNotice, Member };

/** Options of {@link ParleyClient.subscribePresence}. */
export interface SubscribePresenceOptions {
  /** How long the subscription lasts. Defaults to 86 400 000 (a day); the relay keeps it within a minute and 30 days. */
  ttlMs?: number;
}

/** What {@link ParleyClient.setProfile} changes: a field left out keeps its value, `''` clears it. */
export interface ProfileUpdate {
  /** At most 64 bytes, no control or bidirectional characters. */
  nickname?: string;
  /** A URL, at most 512 bytes. */
  avatar?: string;
  /** Application-defined (JSON, typically), at most 512 bytes. */
  custom?: string;
}

/** Reconnect backoff (full jitter, exponential), as Go's core.Config. */
export interface ReconnectOptions {
  /** Stop reconnecting after this many failures in a row (state `disconnected`). Defaults to 0: unlimited. */
  maxAttempts?: number;
  /** Smallest delay before a reconnect. Defaults to 250 ms. */
  minDelayMs?: number;
  /** Largest delay before a reconnect. Defaults to 30 000 ms. */
  maxDelayMs?: number;
}

/** Go's import object for the module (`WebAssembly.Imports`, typed without the DOM lib). */
export type WasmImports = Record<string, Record<string, unknown>>;

/** A `WebAssembly.Instance` (typed without the DOM lib). */
export interface WasmInstance {
  readonly exports: object;
}

/**
 * Instantiates the WebAssembly module in hosts without the standard API,
 * such as WeChat mini-programs (`WXWebAssembly.instantiate(path, imports)`).
 * Gets `wasmUrl` as given (or the default location) and Go's import object;
 * resolves with the instance, or with `{ instance }` as
 * `WebAssembly.instantiate` does.
 */
export type InstantiateHook = (
  source: string | URL | ArrayBuffer | Uint8Array,
  imports: WasmImports,
) => Promise<WasmInstance | { instance: WasmInstance }>;

/**
 * A WebSocket constructor with the browser's API (the browser's own, the
 * `ws` package's, a mini-program shim). Typed loosely so that a Node project
 * needs no DOM lib.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

/** Options of {@link createClient}. Every field but `url` and `token` is optional. */
export interface ClientOptions {
  /**
   * Base URL of the relay's upload endpoint. Defaults to the WebSocket URL's
   * origin with `/v1/uploads` (ws → http, wss → https).
   */
  uploadUrl?: string;
  /**
   * The relay's WebSocket endpoint, e.g. `ws://127.0.0.1:8787/v1/ws`. Every dial adds the token's user
   * to its query (`?user=alice`), which a relay split into shards routes by; other parameters stay.
   */
  url: string;
  /**
   * The JWT presented on connect. A function is called before every dial,
   * so an expired token is replaced without giving up; a string is used as
   * is, and an expired one ends the session (`kicked`, code 4002).
   */
  token: string | (() => string | Promise<string>);
  /**
   * Identifies this device to the relay. Defaults, in browsers with the
   * built-in storages, to an id generated once per tab and kept in
   * `sessionStorage` (so each tab is its own device; see the README);
   * otherwise to the one in the storage adapter, or a new random one that is
   * then persisted there.
   */
  deviceId?: string;
  /**
   * The local cache. Defaults to `'indexeddb'` where IndexedDB exists
   * (browsers) and `'memory'` elsewhere (Node). `'memory'` keeps the cache
   * inside the wasm module for the life of the client.
   */
  storage?: 'indexeddb' | 'memory' | StorageAdapter;
  /**
   * Where parley.wasm is: a URL (fetched; `file:` URLs and paths are read
   * from disk in Node) or the module's bytes. Defaults to the parley.wasm
   * shipped next to the package entry. Only the first client of a realm
   * loads the module; later clients share it.
   */
  wasmUrl?: string | URL | ArrayBuffer | Uint8Array;
  /** Reconnect backoff. */
  reconnect?: ReconnectOptions;
  /** How often to ping when the relay does not say. Defaults to 25 000 ms. */
  heartbeatMs?: number;
  /**
   * Bounds handshakes, syncs and requests other than sends (sends wait in the
   * outbox as long as it takes). Defaults to 15 000 ms.
   */
  requestTimeoutMs?: number;
  /**
   * How long `connect()` waits for the relay: past it, `connect()` rejects
   * with {@link Codes}.ConnectTimeout (4906, retryable) while the client
   * keeps retrying in the background. Defaults to 10 000 ms.
   */
  connectTimeoutMs?: number;
  /** How many sends may await their ack at once. Defaults to 64. */
  sendWindow?: number;
  /** Diagnostics at or above this level go to `logger`. Defaults to `'warn'`; `'info'` adds every connection state change and retry. */
  logLevel?: LogLevel;
  /** Receives diagnostics. Defaults to `console` with a `[parley]` prefix. */
  logger?: (level: Exclude<LogLevel, 'silent'>, message: string) => void;
  /**
   * The WebSocket constructor. Defaults to `globalThis.WebSocket`, and in
   * Node without one to the `ws` package. The wasm module dials through
   * `globalThis.WebSocket`, so a constructor given here is installed there
   * (on `wasmGlobal` instead when that is given).
   */
  WebSocket?: WebSocketConstructor;
  /** Instantiates parley.wasm. Defaults to `WebAssembly.compileStreaming` (or `compile`) and `instantiate`. */
  instantiate?: InstantiateHook;
  /**
   * The object parley.wasm sees as its global object (Go's `js.Global()`),
   * for hosts whose global object lacks what Go's runtime needs, such as
   * WeChat mini-programs. It must hold `Go`, the class Go's wasm_exec.js
   * defines when run over this object, and what that file reads from it
   * (`TextEncoder`, `TextDecoder`, `performance`, `crypto`); whatever else
   * the module looks up (`Object`, `Uint8Array`, `console`, …) may come
   * through its prototype, as in `Object.create(globalThis)`. The module is
   * loaded once per such object, `options.WebSocket` is installed on it
   * instead of on globalThis, and the module's bridge lives on it, so the
   * SDK adds nothing to globalThis. Defaults to globalThis, with the
   * wasm_exec.js shipped in this package.
   */
  wasmGlobal?: object;
  /** Seeds backoff jitter and client ids, so a test replays identically. Defaults to random. */
  seed?: number;
  /**
   * The kind of client, sent to the relay when connecting: its device policy
   * (`--device-policy`) limits each user's sessions per platform, and
   * {@link ParleyClient.devices} shows it. Defaults to `'node'` in Node.js and
   * `'web'` elsewhere; `@parley-im/react-native` and `@parley-im/miniapp` set
   * theirs. Lowercase letters, digits and `-`.
   */
  platform?: 'web' | 'node' | 'react-native' | 'miniapp' | (string & {});
}

/**
 * A persistent cache the client writes through: the built-in IndexedDB one
 * ({@link indexedDBStorage}) or your own (files in a mini-program, SQLite in
 * React Native). Data crosses as plain objects of the types below, fresh
 * for each call: an adapter may keep what it is given as it is (the
 * IndexedDB one stores the objects as given).
 */
export interface StorageAdapter {
  /** Returns the {@link StorageSnapshot}, or null when the store is empty. */
  load(): Promise<StorageSnapshot | null>;
  /**
   * Applies a {@link StorageBatch} atomically (one transaction). The client
   * goes on while a batch is written. A batch that puts a send into the
   * outbox holds the frames and events after it until it has settled; after
   * any other batch (what the relay sent, which it still has if the page
   * dies first) they go on at once; operations resolve once the batches
   * before them have settled. An adapter of your own is called one apply()
   * at a time, and messages() and search() after the apply() calls before
   * them have settled, so a read finds every batch given before it.
   */
  apply(batch: StorageBatch): Promise<void>;
  /**
   * Returns the stored messages of `conv` with seq < before (before 0: the
   * newest), at most `limit`, ascending by seq.
   */
  messages(conv: string, before: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Returns up to `query.limit` stored messages, newest first (see
   * {@link SearchCursor}), whose `foldText(text)` contains `query.text`, of
   * `query.conversationId` when set, and sorting after `query.before` when
   * set. Optional: without it, `client.search` rejects with 4215
   * (NotSupported).
   */
  search?(query: StorageSearchQuery): Promise<StoredMessage[]>;
  /** Releases the store. */
  close(): Promise<void>;
}

/** A Parley client; see {@link createClient}. */
export interface ParleyClient {
  /** The connection state. */
  readonly state: ConnectionState;
  /** The signed-in user's id: known after the first connect, or from the cache; `''` before. */
  readonly userId: string;
  /** This device's id. */
  readonly deviceId: string;

  /**
   * Starts connecting and resolves once the relay welcomed the client. It
   * rejects with a {@link ParleyError}:
   * - {@link Codes}.ConnectTimeout (4906, retryable) when not connected
   *   after `connectTimeoutMs` (10 s): the client keeps retrying in the
   *   background and emits `state` `connected` when it gets through;
   * - a terminal code when reconnecting stops: the relay's terminal close
   *   (a refused token: 4001) or {@link Codes}.GaveUp (4907) once
   *   `reconnect.maxAttempts` failures in a row are used up;
   * - {@link Codes}.Aborted (4908) when `signal` aborts (the client keeps
   *   connecting; `close()` stops it).
   */
  connect(options?: AbortOptions): Promise<void>;
  /**
   * Dials now if the client is waiting to retry, or gave up after
   * `reconnect.maxAttempts` (the SDK also does this when the browser goes
   * online). A client not connected yet, or stopped by a terminal close
   * (`kicked`), stays as it is: {@link ParleyClient.connect} starts it again.
   */
  reconnect(): void;
  /**
   * Subscribes to an event and returns the unsubscribe function. Handlers
   * run in event order, outside any SDK call; an exception in a handler is
   * logged and never breaks the SDK or other handlers. Throws a ParleyError
   * 4903 (InvalidArgument) for an event name that does not exist.
   */
  on<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): () => void;
  /** Subscribes for the next event only; returns the unsubscribe function. */
  once<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): () => void;
  /** Removes a handler given to {@link ParleyClient.on} or {@link ParleyClient.once}; unknown handlers are ignored. */
  off<K extends ClientEventName>(event: K, handler: (payload: ClientEvents[K]) => void): void;
  /**
   * The deterministic id of the one-to-one conversation with `peer`
   * (`p:` + the two user ids sorted, joined by `:`). Works before the first
   * connect: the user id is then the `sub` the token claims (read without
   * verification; with a token function, known after its first call). Throws
   * a ParleyError 4903 (InvalidArgument) while no user id is known or when
   * `peer` is not a valid user id.
   */
  p2p(peer: string): string;
  /**
   * Sends a text message; resolves once the relay durably acknowledged it.
   * The pending message is announced at once, before this settles: a
   * `message` event with `status: 'pending'` and the `clientId` (yours when
   * you pass one). Aborting `signal` takes the message out of the outbox.
   */
  sendText(conversationId: string, text: string, options?: SendTextOptions): Promise<Message>;
  /** Sends a message of any type; as {@link ParleyClient.sendText}. */
  send(conversationId: string, message: OutgoingMessage | OutgoingAttachment, options?: SendOptions): Promise<Message>;
  /**
   * Fetches the bytes of a message's attachment from the relay: for members
   * of the message's conversation and the uploader (4203 otherwise).
   */
  download(message: Message, options?: AbortOptions): Promise<Uint8Array>;
  /** Sends a failed message again; resolves once acknowledged. */
  resend(clientId: string): Promise<Message>;
  /** Drops a pending or failed message from the outbox; its send rejects with 4908 (Aborted). */
  discard(clientId: string): Promise<void>;
  /** The conversations, most recent first, from the local cache. */
  conversations(): Promise<Conversation[]>;
  /** One conversation from the local cache, or `undefined` when this device does not know it. */
  conversation(id: string): Promise<Conversation | undefined>;
  /** The sum of `unread` over the cached conversations that are neither muted nor hidden; the `totalUnread` event says when it changes. */
  totalUnread(): Promise<number>;
  /**
   * Asks `user` to be a contact; they get a `contactRequest` event with the
   * note. When they already asked this user, both become contacts at once.
   * Rejects with 4275 (Blocked) when they blocked this user, 4259
   * (RelationLimit) when either user holds as many relations as the relay
   * allows. Needs a connection (4901).
   */
  requestContact(user: string, note?: string): Promise<void>;
  /** Accepts or declines `user`'s request; they get a `contactAnswer` event. Rejects with 4277 (NoRequest) when there is none. */
  answerContact(user: string, accept: boolean): Promise<void>;
  /** Ends the contact with `user`, or withdraws a request, on both sides. */
  removeContact(user: string): Promise<void>;
  /** The user ids of this user's contacts, from the local cache. */
  contacts(): Promise<string[]>;
  /** This user's relations — contacts, requests either way, blocks — from the local cache. */
  relations(): Promise<Relation[]>;
  /**
   * Blocks `user`: the relay refuses their one-to-one messages and contact
   * requests to this user with 4275 (Blocked), on every device. A contact
   * stays a contact. Rejects with 4259 (RelationLimit) when this user holds
   * as many relations as the relay allows and none with `user` yet.
   */
  block(user: string): Promise<void>;
  /** Undoes {@link ParleyClient.block}. */
  unblock(user: string): Promise<void>;
  /** The user ids this user blocked, from the local cache. */
  blocked(): Promise<string[]>;
  /**
   * When on, the relay refuses one-to-one messages to this user from users
   * who are not contacts with 4276 (ContactsOnly). Contact requests still
   * arrive.
   */
  setContactsOnly(on: boolean): Promise<void>;
  /** The setting of {@link ParleyClient.setContactsOnly}, from the local cache. */
  contactsOnly(): Promise<boolean>;
  /**
   * Pins, mutes or hides a conversation for this user, on all of the user's
   * devices (an offline one when it syncs). Hiding lasts until a newer message
   * arrives. Needs a connection (4901).
   */
  setConversation(conversationId: string, settings: ConversationSettings): Promise<void>;
  /** Keeps `text` as the conversation's draft in the local cache (`''` clears it); it never leaves this device. */
  setDraft(conversationId: string, text: string): Promise<void>;
  /**
   * A page of messages ascending by seq: from the cache, and from the relay
   * for what the cache lacks. With no `beforeSeq`, pending messages follow the
   * sent ones.
   */
  messages(conversationId: string, options?: MessagesOptions): Promise<Message[]>;
  /**
   * A page of sent messages ascending by seq (as {@link ParleyClient.messages},
   * without the pending ones), and whether older ones exist. Sequence numbers
   * are contiguous from 1, so the page reads on past entries it does not show
   * (messages deleted for me, edits and reactions) until it holds `limit`
   * messages or has read seq 1: it is short only when nothing older is left.
   * `hasMore` is false once seq 1 was read; when it is true and every older
   * message was deleted for me, the next page comes back empty with `hasMore`
   * false. Offline the page is what the local cache holds, and `hasMore`
   * stays true while older seqs this user may read (not from before they
   * joined a group) are left: the relay still has the messages the cache
   * lacks, and the same call once connected returns them.
   */
  history(conversationId: string, options?: HistoryOptions): Promise<HistoryPage>;
  /**
   * Searches the messages cached on this device — what sync and history
   * brought in, what was sent, and the outbox — for `text`, newest first.
   * The match is a substring match that ignores case (by Unicode's simple
   * case mappings, so `'ärger'` finds `'Ärger'`) and the whitespace around
   * `text`, so it finds words in languages written without spaces. Works
   * offline; never asks the relay. Page with
   * `{ before: page[page.length - 1] }`. Rejects with a ParleyError 4903
   * (InvalidArgument) on an empty or longer than 256 characters `text`, a
   * bad conversation id, limit or cursor.
   */
  search(text: string, options?: SearchOptions): Promise<Message[]>;
  /**
   * Moves the read cursor to `seq` (default: the last message). Applies
   * locally at once. Rejects with 4909 (UnknownConversation) for a
   * conversation this device does not know.
   */
  markRead(conversationId: string, seq?: number): Promise<void>;
  /**
   * Tells the conversation's other members that this user types: they get a
   * `typing` event. Call it on every key press: the client sends at most one
   * per conversation every 3 s, and none while not connected (typing is
   * best-effort, never queued or stored). Throws a ParleyError 4903
   * (InvalidArgument) for an invalid conversation id.
   */
  typing(conversationId: string): void;
  /**
   * Recalls a message: the sender within the relay's recall window (2
   * minutes by default), a group's owner or admins at any time. Every
   * device, and any that syncs later, gets a `messageUpdate` with
   * `recalled` set and the text and body gone. Rejects with 4231 after the
   * window, 4232 for another's message, 4230 for no such message, 4913 for
   * an id that is not `conversationId#seq`. Offline, it waits in the outbox
   * like a send (as do edit, deleteMessage, react and unreact): the change
   * shows at once, goes out in order after reconnecting, survives a reload,
   * and the Promise resolves when the relay kept it.
   */
  recall(messageId: string): Promise<void>;
  /** Replaces the text of this user's text message; it keeps its seq and gets `editedAt` (4232 another's, 4234 not text, 4233 recalled). */
  edit(messageId: string, text: string): Promise<void>;
  /** Deletes a message for this user's devices only (no other member learns of it), or with `forEveryone` as a recall. */
  deleteMessage(messageId: string, options?: DeleteOptions): Promise<void>;
  /** Adds this user's reaction with `emoji` (1 to 64 bytes; at most 32 distinct emoji per message, 4235). */
  react(messageId: string, emoji: string): Promise<void>;
  /** Withdraws this user's reaction with `emoji`. */
  unreact(messageId: string, emoji: string): Promise<void>;
  /** Which other members have read `conversationId` up to `seq` ("read by 3"). Needs a connection. */
  readReceipts(conversationId: string, seq: number): Promise<ReadReceipts>;
  /**
   * Calls a user (their one-to-one conversation) or a group's members (at
   * most four participants: a full mesh) and resolves once their devices
   * ring, with the {@link Call} in state `'ringing'`, or already `'ended'`
   * with its {@link Call.endReason} when it ended first (nobody online,
   * declined at once); an `ended` handler added then still runs. Incoming
   * calls come as the `call` event. Opens the microphone (and the camera with `video`)
   * first. Rejects with 4920 (CallUnsupported) where there is no WebRTC
   * (mini-programs, Node), 4921 (CallMedia) when the devices cannot be
   * opened, 4901 offline, and with the relay's codes (4203 not a member,
   * 4263 a group above four, 4266 calls off).
   */
  call(userOrConversationId: string, options?: CallOptions): Promise<Call>;
  /**
   * The user's open sessions on every relay, oldest first, this one marked
   * `current`. Needs a connection: rejects with 4901 (NotConnected) offline.
   */
  devices(): Promise<Device[]>;
  /**
   * Closes the session of another of the user's devices (an `id` from
   * {@link ParleyClient.devices}): that device gets `kicked` with code 4011
   * (DeviceKicked) and does not reconnect by itself. Rejects with 4285
   * (NoSuchDevice) when the device has no open session, 4901 offline.
   */
  kickDevice(deviceId: string): Promise<void>;
  /**
   * Creates a group with the given members (this user is always one; at
   * least one other is required, else 4903). Offline, the request waits for
   * the connection; aborting `signal` before then means it is never sent. A
   * request whose connection is lost before the reply is sent again on the
   * next one with the same idempotency key: it resolves with the one group
   * the relay created. The relay names the group; sends to it need its id,
   * so they follow once the promise resolves.
   */
  createGroup(name: string, members: string[], options?: CreateGroupOptions): Promise<Conversation>;
  /** Changes a group's information (admin+; 4220 otherwise). Resolves with the group as this user sees it. */
  updateGroup(groupId: string, update: GroupUpdate): Promise<Conversation>;
  /** Adds users to a group (admin+, or any member when the join policy is `open`). With a relay in `consent` mode they are invited instead (the `invitation` event). */
  addMembers(groupId: string, users: string[]): Promise<void>;
  /** Removes members of a lower role (admin+): they keep the history up to the removal and receive nothing after it. */
  removeMembers(groupId: string, users: string[]): Promise<void>;
  /** Leaves a group. The owner transfers it first (4223), unless alone in it: then leaving dismisses it. */
  leaveGroup(groupId: string): Promise<void>;
  /** Ends a group for every member (owner). */
  dismissGroup(groupId: string): Promise<void>;
  /** Makes another member the owner; this user becomes a member (owner). */
  transferGroup(groupId: string, user: string): Promise<void>;
  /** Makes a member an admin or an admin a member (owner). */
  setRole(groupId: string, user: string, role: 'admin' | 'member'): Promise<void>;
  /** Mutes a member of a lower role until `untilMs` (unix ms); 0 unmutes (admin+). */
  muteMember(groupId: string, user: string, untilMs: number): Promise<void>;
  /** Mutes (or unmutes) everyone below admin (admin+). */
  muteAll(groupId: string, on: boolean): Promise<void>;
  /** Asks to join a group with the `approval` policy (joins at once when `open`; 4225 when `invite`). */
  requestJoin(groupId: string, note?: string): Promise<void>;
  /** Accepts or declines a user's join request (admin+). */
  answerJoin(groupId: string, user: string, accept: boolean): Promise<void>;
  /** Accepts or declines this user's invitation to a group. */
  answerInvite(groupId: string, accept: boolean): Promise<void>;
  /** This user's pending invitations (relay policy `consent`), from the relay. */
  invitations(): Promise<GroupNotice[]>;
  /** The pending join requests of a group (admin+), from the relay. */
  joinRequests(groupId: string): Promise<GroupNotice[]>;
  /** A page of a group's members with their roles, from the relay (members only). */
  members(groupId: string, options?: MembersOptions): Promise<Member[]>;
  /**
   * Sets this user's custom status, application-defined, at most 64 bytes
   * (4271 above); `undefined` clears it. Users subscribed to this user get it
   * in their `presence` events. Needs a connection (4901).
   */
  setStatus(status?: string): Promise<void>;
  /**
   * Subscribes this user to the presence of `users` and resolves with their
   * presence, in order (repeats dropped). The subscription belongs to the
   * user: all their devices get a `presence` event on every change, until it
   * expires (`ttlMs`, a day by default) or {@link unsubscribePresence}. A user
   * holds at most 3,000 subscriptions (4270 above; renewing one held is
   * free). Lists above 200 go in several requests: a refused one leaves the
   * earlier ones in place. Needs a connection (4901).
   */
  subscribePresence(users: string[], options?: SubscribePresenceOptions): Promise<Presence[]>;
  /** Withdraws this user's presence subscriptions to `users` (on all their devices). */
  unsubscribePresence(users: string[]): Promise<void>;
  /**
   * Changes this user's profile, hosted by the relay: fields left out keep
   * their value. Resolves when stored; this user's other devices and the users
   * subscribed to this user get a `profile` event. Bad fields: 4272.
   */
  setProfile(profile: ProfileUpdate): Promise<void>;
  /**
   * The profiles of `users`, in order (repeats dropped): from the client's
   * cache when read less than 5 minutes ago, otherwise from the relay; changes
   * pushed by the relay (a subscribed user's, this user's own) replace cached
   * ones at once. A user who never set a profile has only `user` and
   * `updatedAt: 0`. Offline, cached profiles are returned however old; a user
   * never read rejects with 4901.
   */
  profiles(users: string[]): Promise<Profile[]>;
  /** Resolves when connected with nothing left to sync, fill or send. */
  waitSynced(options?: AbortOptions): Promise<void>;
  /** Ends the session and releases the client; unsent messages stay in the outbox for the next start. */
  close(): Promise<void>;
}

/**
 * The browser's `MediaStream`. Where the DOM types are not loaded (React
 * Native, Node) it is `unknown`: calls need a browser.
 */
export type CallMediaStream = typeof globalThis extends { MediaStream: { prototype: infer S } } ? S : unknown;

/** Where a call stands: ringing (placed, or ringing here), connecting (answered, media not yet flowing), connected, ended. */
export type CallState = 'ringing' | 'connecting' | 'connected' | 'ended';

/**
 * Why a call ended: `hangup` (after an answer), `rejected` (the callee
 * declined), `cancelled` (the caller gave up before an answer), `busy` (the
 * callee is in another call), `timeout` (nobody answered in time),
 * `answeredElsewhere` (another device of this user answered), `failed` (a
 * participant lost the connection to the relay), `unavailable` (no device of
 * the callee online).
 */
export type CallEndReason = 'hangup' | 'rejected' | 'cancelled' | 'busy' | 'timeout' | 'answeredElsewhere' | 'failed' | 'unavailable';

/** The media of a call. */
export interface CallMedia {
  audio: boolean;
  video: boolean;
}

/** Options of {@link ParleyClient.call} and {@link Call.accept}: the media to send (call: audio only by default; accept: the call's). */
export interface CallOptions {
  audio?: boolean;
  video?: boolean;
}

/** The events of a {@link Call}. */
export interface CallEvents {
  /** The call's state changed. */
  state: CallState;
  /** A peer's media arrived: attach it to a `<video>` or `<audio>` element. */
  remoteStream: CallMediaStream;
  /**
   * The call is over, for `reason`. Its record message (type `'call'`)
   * follows in the conversation. A handler added after the call ended is
   * called once, right after `on()` returns, with the same reason.
   */
  ended: { reason: CallEndReason };
}

/**
 * A call: one-to-one, or a group's full mesh of at most four participants.
 * The relay carries its signaling and hands out STUN/TURN servers; the media
 * flows between the browsers (RTCPeerConnection), through TURN when they
 * cannot reach each other. When it ends, a message of type `'call'` with
 * body `{ callId, media, outcome, durationMs }` is appended to the
 * conversation (`outcome`: `'completed'` once answered, else the reason).
 */
export interface Call {
  readonly id: string;
  readonly conversationId: string;
  readonly direction: 'outgoing' | 'incoming';
  /** The other users invited. */
  readonly peers: string[];
  readonly media: CallMedia;
  readonly state: CallState;
  /** Why the call ended, once `state` is `'ended'`; undefined before. */
  readonly endReason?: CallEndReason;
  /** This device's camera and microphone, once placed or accepted. */
  readonly localStream?: CallMediaStream;
  /** One stream per peer whose media arrived. */
  readonly remoteStreams: CallMediaStream[];
  /**
   * Answers on this device (the user's other devices stop ringing). Rejects
   * with 4921 (CallMedia) when the camera or microphone cannot be opened,
   * and with 4260 (CallNotFound) when the call ended before or while it was
   * answered (the caller hung up, another device answered): the call is then
   * in state `'ended'` with its {@link Call.endReason}.
   */
  accept(options?: CallOptions): Promise<void>;
  /** Declines a ringing call (every device of this user stops ringing). */
  reject(): Promise<void>;
  /** Ends this device's part: cancels an unanswered outgoing call, hangs up an answered one. */
  hangup(): Promise<void>;
  /** Mutes or unmutes the microphone (nothing is renegotiated). */
  setMicrophoneEnabled(on: boolean): void;
  /** Turns the camera off or on; turning it on in an audio call adds a video track and renegotiates. */
  setCameraEnabled(on: boolean): Promise<void>;
  on<K extends keyof CallEvents>(event: K, handler: (payload: CallEvents[K]) => void): () => void;
}

/** The body of a message of type `'call'`: the record of a call that ended. */
export interface CallRecord {
  callId: string;
  media: 'audio' | 'video';
  /** `'completed'` once answered, else the {@link CallEndReason}. */
  outcome: 'completed' | CallEndReason;
  /** Since the first answer; 0 when nobody answered. */
  durationMs: number;
}
