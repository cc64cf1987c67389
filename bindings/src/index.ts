/**
 * @parley-im/sdk: the Parley instant-messaging client for browsers and
 * Node.js ≥ 20. The client logic is the Go SDK compiled to
 * WebAssembly; this package loads it and gives it a TypeScript API.
 *
 * ```ts
 * import { createClient } from '@parley-im/sdk';
 * const client = await createClient({ url: 'ws://127.0.0.1:8787/v1/ws', token });
 * client.on('message', (m) => console.log(m.sender, m.text));
 * await client.connect();
 * await client.sendText(client.p2p('bob'), 'hello');
 * ```
 * @packageDocumentation
 */
import { openClient } from './client.js';
import type { ClientOptions, ParleyClient } from './types.js';

/**
 * createClient loads the wasm module (once per page or process) and returns
 * a client that has not connected yet: subscribe with `on`, then `connect()`.
 * The cache is available at once, so `conversations()` answers before the
 * network does. Rejects with a {@link ParleyError} (4903) on bad options.
 */
export function createClient(options: ClientOptions): Promise<ParleyClient> {
  return openClient(options);
}

export { ParleyError } from './errors.js';
export { Codes, codeName, retryable, terminal, type Code } from './codes.js';
export { foldText } from './fold.js';
export { indexedDBStorage, type IDBFactoryLike, type IDBKeyRangeLike, type IndexedDBStorageOptions } from './storage/indexeddb.js';
export type {
  AbortOptions,
  Call,
  CallEndReason,
  CallEvents,
  CallMedia,
  CallOptions,
  CallRecord,
  CallState,
  ClientEventName,
  ClientEvents,
  ClientOptions,
  ConnectionState,
  Conversation,
  ConversationType,
  CreateGroupOptions,
  DeleteOptions,
  Device,
  GroupNotice,
  GroupRole,
  GroupUpdate,
  JoinPolicy,
  Member,
  MembersOptions,
  HistoryOptions,
  HistoryPage,
  InstantiateHook,
  KickedEvent,
  LogLevel,
  Message,
  MessageStatus,
  MessagesOptions,
  OutboxEntry,
  OutgoingMessage,
  OutgoingAttachment,
  Attachment,
  SendOptions,
  ParleyClient,
  ReadReceipts,
  ReconnectOptions,
  SearchCursor,
  SearchOptions,
  SendTextOptions,
  StateEvent,
  StorageAdapter,
  StorageBatch,
  StorageMeta,
  StorageSearchQuery,
  StorageSnapshot,
  StoredConversation,
  StoredMessage,
  SyncEvent,
  TypingEvent,
  Relation,
  ContactAnswerEvent,
  ContactRequestEvent,
  ConversationSettings,
  StorageAccount,
  StoredConvSetting,
  StoredDraft,
  Presence,
  Profile,
  ProfileUpdate,
  SubscribePresenceOptions,
  WasmImports,
  WasmInstance,
  WebSocketConstructor,
} from './types.js';
