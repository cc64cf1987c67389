// The browser cache: a StorageAdapter over IndexedDB.
//
// The client calls apply() again before the previous batch has committed
// (it goes on with the sync while a page commits) and reads while batches
// are in flight. A batch that finds no write in flight gets its transaction
// at the call, synchronously once the database is open; batches that come
// while one is in flight queue and are then merged into as few
// transactions as mergeBatches allows (a group commit: a page sending many
// messages a second commits a few transactions, not one per message); a
// read waits until the batches queued before it have their transactions.
// IndexedDB runs transactions over overlapping stores in the order they
// were created, so batches land in order and a read finds every batch
// applied before it.
//
// Every tab of a user opens the same database and runs its own client (its
// own device), so several writers apply batches concurrently. IndexedDB
// serialises readwrite transactions over the same stores; apply() makes each
// batch one transaction and merges, inside it, what another tab may have
// written meanwhile:
//
//   - conversations merge monotonically: the max of lastSeq, readSeq,
//     syncedSeq and version, the lastMessage with the higher seq, name and
//     members from the newer version, unread = lastSeq - readSeq; a tab that
//     is behind never moves a conversation back;
//   - meta keeps the max of syncCursor and nextOrder while the epoch and user
//     stay the same, and takes the batch's otherwise;
//   - a reset batch clears conversations and messages and writes its meta as
//     given; the outbox stays;
//   - messages are idempotent writes keyed by [conversationId, seq], kept
//     in blocks of consecutive seqs (blocks.ts): a sync page is a few
//     records instead of hundreds, and IndexedDB's cost is per record;
//   - outbox entries are put and deleted as given: two tabs sending the same
//     entry is harmless, the relay deduplicates by client id;
//   - the search index (search.ts) is read, merged by seq and written back
//     in the transaction that writes its messages.
import { Codes } from '../codes.js';
import { ParleyError } from '../errors.js';
import type {
  OutboxEntry,
  StorageAdapter,
  StorageBatch,
  StorageMeta,
  StorageSearchQuery,
  StorageSnapshot,
  StoredConversation,
  StoredMessage,
} from '../types.js';
import { MESSAGE_BLOCKS, blockRange, blockOf, createMessageBlocks, migrateMessages, takeNewest, writeMessages } from './blocks.js';
import { SEARCH_BITS, SEARCH_TEXT, createSearchStores, indexMessages, search, searchIndexer } from './search.js';

/** Options of {@link indexedDBStorage}. */
export interface IndexedDBStorageOptions {
  /**
   * The database name. Defaults to `'parley'`, whatever the user and the
   * relay: every tab of the origin shares it. When the relay welcomes a
   * different user or reports another store epoch, the cache is reset; until
   * then (offline start) the previous cache is served. So delete the database
   * on sign-out (`indexedDB.deleteDatabase('parley')`), or give each user a
   * name of their own (`parley-${userId}`); an app connected to several relays
   * at once gives each its own name too.
   */
  name?: string;
  /** The IndexedDB factory. Defaults to `globalThis.indexedDB`. */
  indexedDB?: IDBFactoryLike;
  /** The IDBKeyRange class that goes with it. Defaults to `globalThis.IDBKeyRange`. */
  IDBKeyRange?: IDBKeyRangeLike;
}

/** The part of `IDBFactory` the adapter uses (typed without the DOM lib). */
export interface IDBFactoryLike {
  open(name: string, version?: number): object;
}

/** The part of the `IDBKeyRange` class the adapter uses (typed without the DOM lib). */
export interface IDBKeyRangeLike {
  bound(lower: unknown, upper: unknown, lowerOpen?: boolean, upperOpen?: boolean): object;
}

// Schema versions: 1 meta, conversations, messages (one record per
// message), outbox; 2 adds the search index; 3 moves the messages into
// blocks (messageBlocks) and drops the messages store.
const VERSION = 3;
const META = 'meta';
const CONVERSATIONS = 'conversations';
const OUTBOX = 'outbox';
const META_KEY = 'meta';
const ALL = [META, CONVERSATIONS, MESSAGE_BLOCKS, OUTBOX, SEARCH_TEXT, SEARCH_BITS];

/**
 * indexedDBStorage returns the IndexedDB {@link StorageAdapter}, the default
 * storage in browsers. The database opens on first use.
 */
export function indexedDBStorage(options: IndexedDBStorageOptions = {}): StorageAdapter {
  return new IndexedDBStorage(
    options.name ?? 'parley',
    options.indexedDB as IDBFactory | undefined,
    options.IDBKeyRange as typeof IDBKeyRange | undefined,
  );
}

/**
 * preload starts reading the snapshot of a storage made by
 * {@link indexedDBStorage} now; its next load() returns that read. The
 * client calls it first thing, so that the cache is read while parley.wasm
 * compiles. Anything else is left alone.
 * @internal
 */
export function preload(s: StorageAdapter): void {
  if (s instanceof IndexedDBStorage) s.preload();
}

/**
 * sharesBatches reports whether s leaves the batches it is given
 * unchanged, so that the client's events may take their messages from
 * them (WasmHost.sharesBatches): the IndexedDB adapter only reads them
 * (its merges make new objects, its blocks hold the messages as given).
 * @internal
 */
export function sharesBatches(s: StorageAdapter): boolean {
  return s instanceof IndexedDBStorage;
}

/**
 * inOrder returns the storage the client is given for s. The client calls
 * apply() again before the previous batch has landed, and reads meanwhile;
 * the IndexedDB adapter keeps the order of those calls itself (see the top
 * of this file), and is returned as it is. Any other adapter gets one
 * apply() at a time, each once the previous one settled, and messages(),
 * search() and close() once every apply() called before them settled: what
 * it saw when the client waited for each write.
 * @internal
 */
export function inOrder(s: StorageAdapter): StorageAdapter {
  if (s instanceof IndexedDBStorage) return s;
  let writes: Promise<unknown> = Promise.resolve();
  const after = <T>(f: () => Promise<T>): Promise<T> => writes.then(f);
  const search = s.search;
  return {
    load: () => s.load(),
    apply: (b) => {
      const p = after(() => s.apply(b));
      writes = p.catch(() => {});
      return p;
    },
    messages: (conv, before, limit) => after(() => s.messages(conv, before, limit)),
    ...(typeof search === 'function' ? { search: (q: StorageSearchQuery) => after(() => search.call(s, q)) } : {}),
    close: () => after(() => s.close()),
  };
}

class IndexedDBStorage implements StorageAdapter {
  #db: Promise<IDBDatabase> | null = null;
  /** The database #db resolved with, while it is open: transactions are then created at the call. */
  #opened: IDBDatabase | null = null;
  #closed = false;
  #preloaded: Promise<StorageSnapshot | null> | null = null;

  constructor(
    private readonly name: string,
    private readonly factory: IDBFactory | undefined,
    private readonly keyRange: typeof IDBKeyRange | undefined,
  ) {}

  #open(): Promise<IDBDatabase> {
    if (this.#closed) return Promise.reject(new ParleyError(Codes.ClientClosed, 'storage closed'));
    if (this.#db) return this.#db;
    const factory = this.factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) return Promise.reject(new ParleyError(Codes.InvalidArgument, 'IndexedDB is not available here; use storage: "memory"'));
    const p = new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open(this.name, VERSION);
      req.onupgradeneeded = (ev) => {
        const db = req.result;
        if (ev.oldVersion < 1) {
          db.createObjectStore(META);
          db.createObjectStore(CONVERSATIONS, { keyPath: 'id' });
          db.createObjectStore(OUTBOX, { keyPath: 'message.clientId' }).createIndex('order', 'order');
        }
        if (ev.oldVersion < 2) createSearchStores(db);
        if (ev.oldVersion < 3) {
          createMessageBlocks(db);
          // An older cache's messages move into blocks (and a version 1
          // cache is indexed for search) now, in the upgrade's transaction:
          // if the upgrade fails, the old cache stays as it was.
          if (ev.oldVersion >= 1 && req.transaction) {
            const tx = req.transaction;
            migrateMessages(tx, ev.oldVersion < 2 ? searchIndexer(tx) : null);
          }
        }
      };
      req.onsuccess = () => {
        const db = req.result;
        const forget = () => {
          if (this.#db === p) this.#db = null;
          if (this.#opened === db) this.#opened = null;
        };
        // Let another tab upgrade or delete the database; reopen on next use.
        db.onversionchange = () => {
          db.close();
          forget();
        };
        db.onclose = forget;
        if (this.#db === p) this.#opened = db;
        resolve(db);
      };
      req.onerror = () => reject(req.error ?? new Error('indexedDB.open failed'));
    });
    this.#db = p;
    p.catch(() => {
      if (this.#db === p) this.#db = null;
    });
    return p;
  }

  preload(): void {
    const p = this.#read();
    p.catch(() => {}); // a failure is load()'s to report, if it is called
    this.#preloaded = p;
  }

  load(): Promise<StorageSnapshot | null> {
    const p = this.#preloaded;
    this.#preloaded = null;
    return p ?? this.#read();
  }

  /**
   * #ready is the open database, without waiting when it is open: a
   * transaction created right after then keeps the order of the calls.
   * Before, every call waits for the one open request, and their
   * continuations run in the order they began waiting.
   */
  #ready(): IDBDatabase | Promise<IDBDatabase> {
    return (!this.#closed && this.#opened) || this.#open();
  }

  async #read(): Promise<StorageSnapshot | null> {
    const db = await this.#open();
    const tx = db.transaction([META, CONVERSATIONS, OUTBOX], 'readonly');
    const meta = request<StorageMeta | undefined>(tx.objectStore(META).get(META_KEY));
    const convs = request<StoredConversation[]>(tx.objectStore(CONVERSATIONS).getAll());
    const outbox = request<OutboxEntry[]>(tx.objectStore(OUTBOX).index('order').getAll());
    await done(tx);
    const [m, cs, ob] = [meta.value, convs.value ?? [], outbox.value ?? []];
    if (!m && cs.length === 0 && ob.length === 0) return null;
    const snap: StorageSnapshot = {
      meta: m ?? { deviceId: '', userId: '', epoch: '', syncCursor: 0, nextOrder: 0 },
      conversations: cs,
      outbox: ob,
    };
    // Another tab may have queued entries past this meta's counter.
    for (const e of ob) if (e.order >= snap.meta.nextOrder) snap.meta.nextOrder = e.order + 1;
    return snap;
  }

  /**
   * apply writes b in one transaction. A batch that comes while another
   * write is in flight waits for it, and everything that queued meanwhile
   * then goes out together, merged into as few transactions as
   * mergeBatches allows: a page sending or receiving many messages a second
   * commits a handful of transactions instead of one per message (each is a
   * commit of its own in the browser). Reads made while batches wait are
   * held until those batches have their transactions, so a read still
   * finds every batch applied before it.
   */
  apply(b: StorageBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ b, resolve, reject });
      if (this.#writing) this.#holdReads();
      else void this.#flush();
    });
  }

  #queue: { b: StorageBatch; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #writing = false;
  #readsHeld: Promise<void> | null = null;
  #releaseReadsNow: (() => void) | null = null;

  #holdReads(): void {
    if (!this.#readsHeld) this.#readsHeld = new Promise((r) => (this.#releaseReadsNow = r));
  }

  #releaseReads(): void {
    this.#releaseReadsNow?.();
    this.#releaseReadsNow = null;
    this.#readsHeld = null;
  }

  /** #flush writes the queue, and what queues while it is written, in order. */
  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        let db: IDBDatabase;
        try {
          const open = this.#ready();
          db = open instanceof Promise ? await open : open;
        } catch (e) {
          for (const q of this.#queue.splice(0)) q.reject(e);
          break;
        }
        const groups = groupBatches(this.#queue.splice(0));
        // Created now, in order, before any read held behind them.
        const landed = groups.map((g) => {
          let finished: Promise<void>;
          try {
            finished = this.#transact(db, g.batch);
          } catch (e) {
            finished = Promise.reject(e);
          }
          return finished.then(
            () => g.waiting.forEach((q) => q.resolve()),
            (e) => g.waiting.forEach((q) => q.reject(e)),
          );
        });
        this.#releaseReads();
        await Promise.all(landed);
      }
    } finally {
      this.#writing = false;
      this.#releaseReads();
    }
  }

  /** #transact writes b in a transaction it creates now; the promise settles when it has committed. */
  #transact(db: IDBDatabase, b: StorageBatch): Promise<void> {
    const tx = db.transaction(ALL, 'readwrite');
    const finished = done(tx);
    try {
      const meta = tx.objectStore(META);
      const convs = tx.objectStore(CONVERSATIONS);
      const outbox = tx.objectStore(OUTBOX);
      // Requests run in the order they are made, so the gets below see the
      // cleared stores, and each put follows its get inside the transaction.
      if (b.reset) {
        convs.clear();
        tx.objectStore(MESSAGE_BLOCKS).clear();
        tx.objectStore(SEARCH_TEXT).clear();
        tx.objectStore(SEARCH_BITS).clear();
      }
      if (b.meta) {
        const nu = b.meta;
        if (b.reset) {
          meta.put(nu, META_KEY);
        } else {
          const r = meta.get(META_KEY);
          r.onsuccess = () => meta.put(mergeMeta(r.result as StorageMeta | undefined, nu), META_KEY);
        }
      }
      for (const c of b.conversations ?? []) {
        const r = convs.get(c.id);
        r.onsuccess = () => convs.put(mergeConversation(r.result as StoredConversation | undefined, c));
      }
      writeMessages(tx, b.messages ?? []);
      indexMessages(tx, b.messages ?? []);
      for (const e of b.outboxPut ?? []) outbox.put(e);
      for (const id of b.outboxDelete ?? []) outbox.delete(id);
    } catch (e) {
      // A synchronous failure (a bad key, a closed database) must not let the
      // writes made so far commit on their own.
      try {
        tx.abort();
      } catch {
        /* already finished */
      }
      finished.catch(() => {});
      throw e;
    }
    return finished;
  }

  async messages(conv: string, before: number, limit: number): Promise<StoredMessage[]> {
    if (this.#readsHeld) await this.#readsHeld;
    const open = this.#ready();
    const db = open instanceof Promise ? await open : open;
    const tx = db.transaction(MESSAGE_BLOCKS, 'readonly');
    const KeyRange = this.#keyRange();
    const range = blockRange(KeyRange, conv, before > 0 ? blockOf(before - 1) : Infinity);
    const out: StoredMessage[] = [];
    const req = tx.objectStore(MESSAGE_BLOCKS).openCursor(range, 'prev');
    req.onsuccess = () => {
      const cur = req.result;
      if (!cur) return;
      if (takeNewest(cur.value, before, limit, out)) cur.continue();
    };
    await done(tx);
    return out.reverse();
  }

  async search(q: StorageSearchQuery): Promise<StoredMessage[]> {
    if (this.#readsHeld) await this.#readsHeld;
    const open = this.#ready();
    const db = open instanceof Promise ? await open : open;
    const KeyRange = this.#keyRange();
    return search(db.transaction([SEARCH_BITS, SEARCH_TEXT, MESSAGE_BLOCKS], 'readonly'), q, KeyRange);
  }

  #keyRange(): typeof IDBKeyRange {
    const KeyRange = this.keyRange ?? (globalThis as { IDBKeyRange?: typeof IDBKeyRange }).IDBKeyRange;
    if (!KeyRange) throw new ParleyError(Codes.InvalidArgument, 'IDBKeyRange is not available here; pass options.IDBKeyRange');
    return KeyRange;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const p = this.#db;
    this.#db = null;
    this.#opened = null;
    if (p) (await p.catch(() => null))?.close();
  }
}

/** mergeMeta keeps the cursors monotonic within one epoch and user. @internal */
export function mergeMeta(old: StorageMeta | undefined, nu: StorageMeta): StorageMeta {
  if (!old || old.epoch !== nu.epoch || old.userId !== nu.userId) return nu;
  return {
    ...nu,
    syncCursor: Math.max(old.syncCursor, nu.syncCursor),
    nextOrder: Math.max(old.nextOrder, nu.nextOrder),
  };
}

/** mergeConversation combines a stored row with a newer write from any tab, never moving backwards. @internal */
export function mergeConversation(old: StoredConversation | undefined, nu: StoredConversation): StoredConversation {
  if (!old) return nu;
  const newer = nu.version >= old.version ? nu : old;
  const lastSeq = Math.max(old.lastSeq, nu.lastSeq);
  const readSeq = Math.max(old.readSeq, nu.readSeq);
  const out: StoredConversation = {
    ...newer,
    lastSeq,
    readSeq,
    unread: lastSeq > readSeq ? lastSeq - readSeq : 0,
    syncedSeq: Math.max(old.syncedSeq, nu.syncedSeq),
    version: Math.max(old.version, nu.version),
  };
  const last = newerMessage(old.lastMessage, nu.lastMessage);
  if (last) out.lastMessage = last;
  else delete out.lastMessage;
  return out;
}

function newerMessage(a: StoredMessage | undefined, b: StoredMessage | undefined): StoredMessage | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.seq > b.seq ? a : b;
}

/** A request's result once its transaction completes. */
function request<T>(req: IDBRequest): { readonly value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  req.onsuccess = () => {
    box.value = req.result as T;
  };
  return box;
}

/** done resolves when tx commits and rejects when it aborts. */
function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** A run of queued batches written as one. */
interface BatchGroup {
  batch: StorageBatch;
  waiting: { resolve: () => void; reject: (e: unknown) => void }[];
}

/**
 * groupBatches merges consecutive queued batches into as few as writing
 * them one by one allows: a reset starts a group of its own, and so does a
 * meta of another epoch or user (mergeMeta would take it as given).
 */
function groupBatches(queue: { b: StorageBatch; resolve: () => void; reject: (e: unknown) => void }[]): BatchGroup[] {
  const groups: BatchGroup[] = [];
  for (const q of queue) {
    const last = groups.at(-1);
    const m = last?.batch.meta;
    const other = q.b.meta && m && (m.epoch !== q.b.meta.epoch || m.userId !== q.b.meta.userId);
    if (last && !q.b.reset && !other) {
      last.batch = mergeBatches(last.batch, q.b);
      last.waiting.push(q);
    } else {
      groups.push({ batch: q.b, waiting: [q] });
    }
  }
  return groups;
}

/**
 * mergeBatches is one batch that writes what a and then b write: the metas
 * and each conversation merged as the store merges them, the messages in
 * order (a later write of a seq replaces an earlier one), and the outbox's
 * last word on each entry. b has no reset. @internal
 */
export function mergeBatches(a: StorageBatch, b: StorageBatch): StorageBatch {
  const out: StorageBatch = {};
  if (a.reset) out.reset = true;
  const meta = a.meta && b.meta ? mergeMeta(a.meta, b.meta) : (b.meta ?? a.meta);
  if (meta) out.meta = meta;
  const convs = new Map<string, StoredConversation>();
  for (const c of [...(a.conversations ?? []), ...(b.conversations ?? [])]) {
    const old = convs.get(c.id);
    convs.set(c.id, old ? mergeConversation(old, c) : c);
  }
  if (convs.size > 0) out.conversations = [...convs.values()];
  const messages = [...(a.messages ?? []), ...(b.messages ?? [])];
  if (messages.length > 0) out.messages = messages;
  // A batch puts its entries, then deletes: the last of those, per entry, stands.
  const outbox = new Map<string, OutboxEntry | null>();
  for (const x of [a, b]) {
    for (const e of x.outboxPut ?? []) outbox.set(e.message.clientId, e);
    for (const id of x.outboxDelete ?? []) outbox.set(id, null);
  }
  const puts = [...outbox.values()].filter((e): e is OutboxEntry => e !== null);
  const deletes = [...outbox.entries()].filter(([, e]) => e === null).map(([id]) => id);
  if (puts.length > 0) out.outboxPut = puts;
  if (deletes.length > 0) out.outboxDelete = deletes;
  return out;
}
