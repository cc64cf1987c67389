// The mini-program cache: a StorageAdapter over user files
// (wx.getFileSystemManager() under wx.env.USER_DATA_PATH) with a small index
// in wx storage.
//
//   USER_DATA_PATH/parley/<name>/
//     state.0.json, state.1.json    meta + conversations, two slots
//     outbox.0.json, outbox.1.json  the unacknowledged sends, two slots
//     m/<hash>-<block>.json         cached messages of one conversation,
//                                   seqs [64·block, 64·block + 64)
//   wx storage "parley:<name>:index" every message file: conversation,
//                                   block, bytes, newest createdAt
//
// Each slot file holds a generation number and is written whole; a write
// goes to the slot the last good write did not use, and load takes the
// newer slot that parses, so a write cut short (a kill, a full disk) leaves
// the previous state. The index is a cache of the m/ folder: load
// reconciles it with the folder, so losing it costs a slower start only.
//
// Limits (WeChat: 200 MB of user files per mini-program, shared with the
// app; wx storage 10 MB in all and 1 MB per key). The message files are
// kept under maxBytes; when a write would pass it, or the platform refuses
// a write because the user files are full (1300202), the oldest cached
// history goes first: the message files whose newest message is oldest.
// The outbox and the state are never evicted. Evicted history is still on
// the relay.
//
// Write order inside a batch: messages, then the outbox, then (coalesced,
// at most every 200 ms, and at once on reset, flush and close) the state
// and the index. A state written late is behind, never ahead of the
// messages it describes; a conversation whose messages could not be
// written is stored with its synced position below them, so the next start
// fetches them again. A failed outbox write is kept in memory, written again
// with the next batch and at flush, and reported through onError.
import { foldText } from '@parley-im/sdk';
import type {
  OutboxEntry,
  StorageAdapter,
  StorageBatch,
  StorageMeta,
  StorageSearchQuery,
  StorageSnapshot,
  StoredConversation,
  StoredMessage,
} from '@parley-im/sdk';
import type { FileSystemManager, Wx } from './wx.js';
import { call, errorNumber, errorText } from './wx.js';

/** Seqs per message file. */
const BLOCK = 64;
/** WeChat's error number for "the maximum size of the file storage limit is exceeded". */
export const FILE_STORAGE_FULL = 1300202;
/** The state is written at most this often (and at once on reset, flush and close). */
const STATE_DELAY_MS = 200;
/** Message files kept parsed in memory. */
const CACHE_FILES = 16;
/** wx storage allows 1 MB per key; an index above this is not stored (load rebuilds it from the files). */
const INDEX_MAX = 900 * 1024;

/** Options of {@link fileStorage}. */
export interface FileStorageOptions {
  /**
   * Names the cache: files under `USER_DATA_PATH/parley/<name>/` and the wx
   * storage key `parley:<name>:index`. Defaults to `'default'`. Give each
   * signed-in user (and each relay) a name of their own, or remove the
   * folder on sign-out.
   */
  name?: string;
  /**
   * The most bytes the cached messages may take in user files. Defaults to
   * 50 MiB, a quarter of the 200 MB a mini-program has for all its user
   * files. The outbox and the conversation list come on top (they are small).
   */
  maxBytes?: number;
  /** Called when a write fails (see {@link StorageErrorEvent}). Defaults to a console warning. */
  onError?: (event: StorageErrorEvent) => void;
}

/** What {@link FileStorageOptions.onError} gets. */
export interface StorageErrorEvent {
  /**
   * What was not written: `'outbox'` (unacknowledged sends: kept in memory
   * and written again with the next batch and when the app is hidden),
   * `'state'` (conversations and cursors: written again later), `'messages'`
   * (cached history: the relay still has it; the next start fetches it
   * again), `'index'` (rebuilt from the files at the next start).
   */
  what: 'outbox' | 'state' | 'messages' | 'index';
  /** The platform's error number, e.g. 1300202 when the user files are full. */
  code?: number;
  message: string;
  /** Whether the data is still held in memory to be written again. */
  retrying: boolean;
}

/** Counters of a {@link FileStorage}, for diagnostics and tests. */
export interface FileStorageStats {
  /** Bytes of message files. */
  bytes: number;
  files: number;
  evictedFiles: number;
  evictedBytes: number;
  writeErrors: number;
}

interface ChunkInfo {
  conv: string;
  block: number;
  bytes: number;
  /** The newest createdAt in the file: eviction order. */
  newest: number;
}

interface Slot<T> {
  gen: number;
  data: T;
}

/**
 * fileStorage returns the file-backed {@link StorageAdapter}, the default
 * storage of `@parley-im/miniapp`'s createClient.
 */
export function fileStorage(options: FileStorageOptions = {}): FileStorage {
  const w = (typeof wx === 'undefined' ? undefined : wx) as Wx | undefined;
  if (!w) throw new Error('fileStorage: wx is not defined: this runs in a WeChat mini-program');
  return new FileStorage(w, options);
}

declare const wx: Wx | undefined;

/** The file-backed StorageAdapter. Create it with {@link fileStorage}. */
export class FileStorage implements StorageAdapter {
  readonly #fs: FileSystemManager;
  readonly #root: string;
  readonly #key: string;
  readonly #max: number;
  readonly #onError: (e: StorageErrorEvent) => void;

  #loaded: Promise<void> | null = null;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();

  #meta: StorageMeta | null = null;
  #convs = new Map<string, StoredConversation>();
  #outbox = new Map<string, OutboxEntry>();
  #stateGen = 0;
  #outboxGen = 0;
  #stateDirty = false;
  #outboxDirty = false;
  #indexDirty = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Per conversation, the lowest seq whose message file could not be written this session. */
  #failed = new Map<string, number>();

  #chunks = new Map<string, ChunkInfo>();
  #byConv = new Map<string, Set<number>>();
  #cache = new Map<string, StoredMessage[]>();
  #bytes = 0;
  readonly stats: FileStorageStats = { bytes: 0, files: 0, evictedFiles: 0, evictedBytes: 0, writeErrors: 0 };

  constructor(
    private readonly wx: Wx,
    options: FileStorageOptions = {},
  ) {
    const name = options.name ?? 'default';
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw new Error('fileStorage: name must be 1 to 64 characters of [A-Za-z0-9_.@-]');
    this.#fs = wx.getFileSystemManager();
    this.#root = `${wx.env.USER_DATA_PATH}/parley/${name}`;
    this.#key = `parley:${name}:index`;
    this.#max = options.maxBytes ?? 50 * 1024 * 1024;
    this.#onError =
      options.onError ??
      ((e) => {
        console.warn(`[parley] storage: ${e.what} not written: ${e.message}${e.retrying ? ' (will retry)' : ''}`);
      });
  }

  // ---- StorageAdapter ----

  load(): Promise<StorageSnapshot | null> {
    return this.#run(async () => {
      await this.#ensureLoaded();
      if (!this.#meta && this.#convs.size === 0 && this.#outbox.size === 0) return null;
      const meta: StorageMeta = { ...(this.#meta ?? { deviceId: '', userId: '', epoch: '', syncCursor: 0, nextOrder: 0 }) };
      const outbox = [...this.#outbox.values()].sort((a, b) => a.order - b.order);
      for (const e of outbox) if (e.order >= meta.nextOrder) meta.nextOrder = e.order + 1;
      const snap: StorageSnapshot = { meta, conversations: this.#stateConversations(), outbox };
      return snap;
    });
  }

  apply(b: StorageBatch): Promise<void> {
    return this.#run(async () => {
      await this.#ensureLoaded();
      let failure: unknown = null;
      if (b.reset) await this.#reset();
      if (b.meta) this.#meta = b.meta;
      if (b.messages && b.messages.length > 0) {
        try {
          await this.#putMessages(b.messages);
        } catch (e) {
          failure = e;
        }
      }
      for (const c of b.conversations ?? []) this.#convs.set(c.id, c);
      if (b.reset || b.meta || (b.conversations && b.conversations.length > 0)) this.#stateDirty = true;
      if (b.outboxPut || b.outboxDelete) {
        for (const e of b.outboxPut ?? []) this.#outbox.set(e.message.clientId, e);
        for (const id of b.outboxDelete ?? []) this.#outbox.delete(id);
        this.#outboxDirty = true;
      }
      if (this.#outboxDirty) {
        try {
          await this.#writeOutbox();
        } catch (e) {
          failure ??= e;
        }
      }
      if (b.reset) {
        await this.#writeState().catch(() => {});
      } else if (this.#stateDirty || this.#indexDirty) {
        this.#schedule();
      }
      if (failure) throw failure instanceof Error ? failure : new Error(errorText(failure));
    });
  }

  messages(conv: string, before: number, limit: number): Promise<StoredMessage[]> {
    return this.#run(async () => {
      await this.#ensureLoaded();
      return this.#page(conv, before, limit);
    });
  }

  search(q: StorageSearchQuery): Promise<StoredMessage[]> {
    return this.#run(async () => {
      await this.#ensureLoaded();
      return this.#search(q);
    });
  }

  /** flush writes what is waiting (the state, the index, an outbox that failed before). */
  flush(): Promise<void> {
    return this.#run(() => this.#flush());
  }

  close(): Promise<void> {
    return this.#run(async () => {
      if (this.#closed) return;
      if (this.#loaded) await this.#flush();
      this.#closed = true;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#cache.clear();
    });
  }

  /** The total bytes of cached message files and the eviction counters. */
  getStats(): FileStorageStats {
    return { ...this.stats, bytes: this.#bytes, files: this.#chunks.size };
  }

  // ---- internals ----

  /** run serialises every operation: reads never see a file being rewritten. */
  #run<T>(f: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(() => {
      if (this.#closed) throw new Error('storage closed');
      return f();
    });
    this.#queue = p.catch(() => {});
    return p;
  }

  #ensureLoaded(): Promise<void> {
    this.#loaded ??= this.#loadFiles();
    return this.#loaded;
  }

  async #loadFiles(): Promise<void> {
    await this.#mkdir(this.#root);
    await this.#mkdir(`${this.#root}/m`);
    const state = await this.#readSlots<{ meta: StorageMeta | null; conversations: StoredConversation[] }>('state');
    if (state) {
      this.#stateGen = state.gen;
      this.#meta = state.data.meta;
      for (const c of state.data.conversations ?? []) this.#convs.set(c.id, c);
    }
    const outbox = await this.#readSlots<OutboxEntry[]>('outbox');
    if (outbox) {
      this.#outboxGen = outbox.gen;
      for (const e of outbox.data ?? []) this.#outbox.set(e.message.clientId, e);
    }
    await this.#loadIndex();
  }

  async #mkdir(dirPath: string): Promise<void> {
    try {
      await call((cb) => this.#fs.mkdir({ dirPath, recursive: true, ...cb }));
    } catch (e) {
      if (!/exist/i.test(errorText(e))) throw e;
    }
  }

  /** readSlots returns the newer of the two slots of name that parses. */
  async #readSlots<T>(name: string): Promise<Slot<T> | null> {
    let best: Slot<T> | null = null;
    for (const i of [0, 1]) {
      const text = await this.#readText(`${this.#root}/${name}.${i}.json`);
      if (text === null) continue;
      try {
        const s = JSON.parse(text) as Slot<T>;
        if (typeof s.gen === 'number' && (!best || s.gen > best.gen)) best = s;
      } catch {
        // A slot cut short by a kill or a full disk: the other one holds the previous state.
      }
    }
    return best;
  }

  async #readText(filePath: string): Promise<string | null> {
    try {
      const r = await call<{ data: string | ArrayBuffer }>((cb) => this.#fs.readFile({ filePath, encoding: 'utf8', ...cb }));
      return typeof r.data === 'string' ? r.data : new TextDecoder().decode(r.data);
    } catch (e) {
      if (/no such file|not exist/i.test(errorText(e))) return null;
      throw e;
    }
  }

  /** loadIndex reads the index from wx storage and reconciles it with the m/ folder. */
  async #loadIndex(): Promise<void> {
    let stored: Array<[string, string, number, number, number]> = [];
    try {
      const r = await call<{ data: unknown }>((cb) => this.wx.getStorage({ key: this.#key, ...cb }));
      const d = r.data as { v?: number; chunks?: Array<[string, string, number, number, number]> } | null;
      if (d && d.v === 1 && Array.isArray(d.chunks)) stored = d.chunks;
    } catch {
      // No index yet (or wx storage unreadable): rebuilt from the folder below.
    }
    const files = await call<{ files: string[] }>((cb) => this.#fs.readdir({ dirPath: `${this.#root}/m`, ...cb })).then(
      (r) => new Set(r.files.filter((f) => f.endsWith('.json'))),
      () => new Set<string>(),
    );
    for (const [file, conv, block, bytes, newest] of stored) {
      if (!files.has(file)) continue;
      files.delete(file);
      this.#track(file, { conv, block, bytes, newest });
    }
    // Files the index does not know (written after its last save): read them.
    for (const file of files) {
      const text = await this.#readText(`${this.#root}/m/${file}`).catch(() => null);
      let chunk: { c?: string; m?: StoredMessage[] } | null = null;
      try {
        chunk = text === null ? null : (JSON.parse(text) as { c?: string; m?: StoredMessage[] });
      } catch {
        chunk = null;
      }
      const block = Number(/-(\d+)\.json$/.exec(file)?.[1]);
      if (!chunk || typeof chunk.c !== 'string' || !Array.isArray(chunk.m) || !Number.isInteger(block)) {
        await this.#unlink(`${this.#root}/m/${file}`);
        continue;
      }
      this.#track(file, { conv: chunk.c, block, bytes: utf8Length(text!), newest: newestOf(chunk.m) });
      this.#indexDirty = true;
    }
    if (stored.length !== this.#chunks.size) this.#indexDirty = true;
  }

  #track(file: string, info: ChunkInfo): void {
    const old = this.#chunks.get(file);
    if (old) this.#bytes -= old.bytes;
    this.#chunks.set(file, info);
    this.#bytes += info.bytes;
    let set = this.#byConv.get(info.conv);
    if (!set) this.#byConv.set(info.conv, (set = new Set()));
    set.add(info.block);
  }

  #untrack(file: string): ChunkInfo | undefined {
    const info = this.#chunks.get(file);
    if (!info) return undefined;
    this.#chunks.delete(file);
    this.#bytes -= info.bytes;
    this.#cache.delete(file);
    const set = this.#byConv.get(info.conv);
    set?.delete(info.block);
    if (set && set.size === 0) this.#byConv.delete(info.conv);
    this.#indexDirty = true;
    return info;
  }

  async #unlink(filePath: string): Promise<void> {
    await call((cb) => this.#fs.unlink({ filePath, ...cb })).catch(() => {});
  }

  /** reset drops the cached conversations and messages (a new relay store epoch); the outbox stays. */
  async #reset(): Promise<void> {
    for (const file of [...this.#chunks.keys()]) {
      this.#untrack(file);
      await this.#unlink(`${this.#root}/m/${file}`);
    }
    this.#convs.clear();
    this.#failed.clear();
    this.#stateDirty = true;
  }

  async #putMessages(msgs: StoredMessage[]): Promise<void> {
    const groups = new Map<string, StoredMessage[]>();
    for (const m of msgs) {
      const file = chunkFile(m.conversationId, Math.floor(m.seq / BLOCK));
      const g = groups.get(file);
      if (g) g.push(m);
      else groups.set(file, [m]);
    }
    const batchFiles = new Set(groups.keys());
    let failure: unknown = null;
    for (const [file, group] of groups) {
      const conv = group[0]!.conversationId;
      const block = Math.floor(group[0]!.seq / BLOCK);
      try {
        const bySeq = new Map<number, StoredMessage>();
        for (const m of await this.#readChunk(file, conv)) bySeq.set(m.seq, m);
        for (const m of group) bySeq.set(m.seq, m);
        const merged = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
        const text = JSON.stringify({ c: conv, m: merged });
        const bytes = utf8Length(text);
        const old = this.#chunks.get(file)?.bytes ?? 0;
        if (this.#bytes + bytes - old > this.#max) await this.#evict(this.#bytes + bytes - old - this.#max, batchFiles);
        await this.#write(`${this.#root}/m/${file}`, text, batchFiles);
        this.#track(file, { conv, block, bytes, newest: newestOf(merged) });
        this.#remember(file, merged);
        this.#indexDirty = true;
      } catch (e) {
        failure ??= e;
        const lowest = Math.min(...group.map((m) => m.seq));
        this.#failed.set(conv, Math.min(this.#failed.get(conv) ?? Infinity, lowest));
        this.#stateDirty = true;
        this.stats.writeErrors++;
        this.#report({ what: 'messages', code: errorNumber(e), message: errorText(e), retrying: false });
      }
    }
    if (failure) throw failure;
  }

  async #readChunk(file: string, conv: string): Promise<StoredMessage[]> {
    const hit = this.#cache.get(file);
    if (hit) {
      this.#remember(file, hit);
      return hit;
    }
    if (!this.#chunks.has(file)) return [];
    const text = await this.#readText(`${this.#root}/m/${file}`);
    if (text === null) {
      this.#untrack(file);
      return [];
    }
    let msgs: StoredMessage[] = [];
    try {
      const c = JSON.parse(text) as { c?: string; m?: StoredMessage[] };
      // Another conversation whose name hashes alike would have its own c.
      if (c.c === conv && Array.isArray(c.m)) msgs = c.m;
    } catch {
      msgs = [];
    }
    this.#remember(file, msgs);
    return msgs;
  }

  #remember(file: string, msgs: StoredMessage[]): void {
    this.#cache.delete(file);
    this.#cache.set(file, msgs);
    while (this.#cache.size > CACHE_FILES) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  /**
   * write writes a file; when the platform says the user files are full, it
   * evicts the oldest history (never a file of keep) and tries again.
   */
  async #write(filePath: string, data: string, keep: Set<string>): Promise<void> {
    for (;;) {
      try {
        await call((cb) => this.#fs.writeFile({ filePath, data, encoding: 'utf8', ...cb }));
        return;
      } catch (e) {
        if (!isStorageFull(e)) throw e;
        const need = Math.max(utf8Length(data), Math.ceil(this.#bytes / 10));
        if ((await this.#evict(need, keep)) === 0) throw e;
      }
    }
  }

  /** evict removes message files, oldest history first, until bytes are freed; it returns the bytes freed. */
  async #evict(bytes: number, keep: Set<string>): Promise<number> {
    const victims = [...this.#chunks.entries()]
      .filter(([file]) => !keep.has(file))
      .sort((a, b) => a[1].newest - b[1].newest || a[1].block - b[1].block);
    let freed = 0;
    for (const [file, info] of victims) {
      if (freed >= bytes) break;
      this.#untrack(file);
      await this.#unlink(`${this.#root}/m/${file}`);
      freed += info.bytes;
      this.stats.evictedFiles++;
      this.stats.evictedBytes += info.bytes;
    }
    return freed;
  }

  async #writeOutbox(): Promise<void> {
    const entries = [...this.#outbox.values()].sort((a, b) => a.order - b.order);
    try {
      await this.#writeSlot('outbox', this.#outboxGen + 1, entries);
      this.#outboxGen++;
      this.#outboxDirty = false;
    } catch (e) {
      this.stats.writeErrors++;
      this.#report({ what: 'outbox', code: errorNumber(e), message: errorText(e), retrying: true });
      throw e;
    }
  }

  async #writeState(): Promise<void> {
    try {
      await this.#writeSlot('state', this.#stateGen + 1, { meta: this.#meta, conversations: this.#stateConversations() });
      this.#stateGen++;
      this.#stateDirty = false;
    } catch (e) {
      this.stats.writeErrors++;
      this.#report({ what: 'state', code: errorNumber(e), message: errorText(e), retrying: true });
      throw e;
    }
  }

  async #writeSlot(name: string, gen: number, data: unknown): Promise<void> {
    await this.#write(`${this.#root}/${name}.${gen % 2}.json`, JSON.stringify({ gen, data }), new Set());
  }

  /** The conversations as stored: a conversation is never said to hold messages that could not be written. */
  #stateConversations(): StoredConversation[] {
    return [...this.#convs.values()].map((c) => {
      const failed = this.#failed.get(c.id);
      return failed !== undefined && c.syncedSeq >= failed ? { ...c, syncedSeq: Math.max(0, failed - 1) } : c;
    });
  }

  async #writeIndex(): Promise<void> {
    const chunks = [...this.#chunks.entries()].map(([file, i]) => [file, i.conv, i.block, i.bytes, i.newest]);
    const data = { v: 1, chunks };
    if (utf8Length(JSON.stringify(data)) > INDEX_MAX) {
      // Too large for one key: leave the last one; load reads the files it lacks.
      this.#report({ what: 'index', message: `the index of ${chunks.length} files is above ${INDEX_MAX} bytes`, retrying: false });
      this.#indexDirty = false;
      return;
    }
    try {
      await call((cb) => this.wx.setStorage({ key: this.#key, data, ...cb }));
    } catch (e) {
      // wx storage is full (10 MB for the whole mini-program, the app's keys
      // included): drop the stale index so load rebuilds from the files.
      await call((cb) => this.wx.removeStorage({ key: this.#key, ...cb })).catch(() => {});
      this.stats.writeErrors++;
      this.#report({ what: 'index', code: errorNumber(e), message: errorText(e), retrying: false });
    }
    this.#indexDirty = false;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run(() => this.#flush()).catch(() => {});
    }, STATE_DELAY_MS);
  }

  async #flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#outboxDirty) await this.#writeOutbox().catch(() => {});
    if (this.#stateDirty) await this.#writeState().catch(() => {});
    if (this.#indexDirty) await this.#writeIndex();
  }

  async #page(conv: string, before: number, limit: number): Promise<StoredMessage[]> {
    const blocks = [...(this.#byConv.get(conv) ?? [])].sort((a, b) => b - a);
    const top = before > 0 ? Math.floor((before - 1) / BLOCK) : Infinity;
    let out: StoredMessage[] = [];
    for (const block of blocks) {
      if (block > top) continue;
      const msgs = (await this.#readChunk(chunkFile(conv, block), conv)).filter((m) => before <= 0 || m.seq < before);
      out = msgs.concat(out);
      if (limit > 0 && out.length >= limit) break;
    }
    return limit > 0 && out.length > limit ? out.slice(out.length - limit) : out;
  }

  /**
   * search scans the message files newest first and stops once it holds a
   * page of matches newer than every file left (a file's messages are no
   * newer than its newest createdAt).
   */
  async #search(q: StorageSearchQuery): Promise<StoredMessage[]> {
    const files = [...this.#chunks.entries()]
      .filter(([, i]) => !q.conversationId || i.conv === q.conversationId)
      .sort((a, b) => b[1].newest - a[1].newest);
    const found: StoredMessage[] = [];
    for (const [file, info] of files) {
      if (found.length >= q.limit && found[q.limit - 1]!.createdAt > info.newest) break;
      for (const m of await this.#readChunk(file, info.conv)) {
        if (typeof m.text !== 'string' || !foldText(m.text).includes(q.text)) continue;
        if (q.before && compareNewestFirst(m, q.before) <= 0) continue;
        found.push(m);
      }
      found.sort((a, b) => -compareNewestFirst(a, b));
      if (found.length > q.limit) found.length = q.limit;
    }
    return found;
  }

  #report(e: StorageErrorEvent): void {
    try {
      this.#onError(e);
    } catch {
      /* a handler must not break the storage */
    }
  }
}

/**
 * compareNewestFirst orders a before b when a is older (the search order is
 * createdAt, conversationId, seq, clientId, each descending): it returns a
 * positive number when a sorts after b in the results.
 */
function compareNewestFirst(a: { createdAt: number; conversationId: string; seq: number; clientId?: string | undefined }, b: typeof a): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  if (a.conversationId !== b.conversationId) return a.conversationId < b.conversationId ? 1 : -1;
  if (a.seq !== b.seq) return b.seq - a.seq;
  const ac = a.clientId ?? '';
  const bc = b.clientId ?? '';
  return ac === bc ? 0 : ac < bc ? 1 : -1;
}

function isStorageFull(e: unknown): boolean {
  return errorNumber(e) === FILE_STORAGE_FULL || /maximum size of the file storage|storage limit is exceeded/i.test(errorText(e));
}

/** chunkFile names the file of a conversation's block by a 64-bit hash of the id (two FNV-1a variants): ids may hold ":" and differ only in case, which file names cannot carry everywhere. */
export function chunkFile(conv: string, block: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < conv.length; i++) {
    const c = conv.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c ^ (h1 >>> 7), 0x01000193) >>> 0;
  }
  return `${h2.toString(16).padStart(8, '0')}${h1.toString(16).padStart(8, '0')}-${block}.json`;
}

function newestOf(msgs: StoredMessage[]): number {
  let n = 0;
  for (const m of msgs) if (m.createdAt > n) n = m.createdAt;
  return n;
}

/** utf8Length is the UTF-8 byte length of s. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

