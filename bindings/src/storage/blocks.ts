// The IndexedDB message store: messages kept in blocks of consecutive seqs.
//
// IndexedDB's cost is per record, not per byte: in headless Chromium a put
// costs tens of microseconds on the main thread however small its value,
// and about as much again to commit, so a sync page of 500 messages written
// one record each held the main thread for ~40 ms and its commit for as
// long again. A block is one record for up to BLOCK messages, so that page
// is about eight gets and eight puts. The price is on single writes: a
// pushed message rewrites its block (at most BLOCK messages).
//
//   messageBlocks  keyed [conversationId, block], where block is
//                  floor(seq / BLOCK); its messages ascending by seq, each
//                  stored once (a write of a seq it holds replaces it).
import type { StoredMessage } from '../types.js';

export const MESSAGE_BLOCKS = 'messageBlocks';
/** The store of version 1 and 2 caches, one record per message; the upgrade to version 3 empties it into blocks and drops it. */
const OLD_MESSAGES = 'messages';

/** Messages per block: a conversation's seqs [n·BLOCK, (n+1)·BLOCK). */
const BLOCK = 64;

/** A record of messageBlocks. */
interface MessageBlock {
  conversationId: string;
  block: number;
  /** Ascending by seq, one per seq. */
  messages: StoredMessage[];
}

/** blockOf is the block that holds seq. */
export function blockOf(seq: number): number {
  return Math.floor(seq / BLOCK);
}

/** createMessageBlocks adds the store to a database being upgraded. */
export function createMessageBlocks(db: IDBDatabase): void {
  db.createObjectStore(MESSAGE_BLOCKS, { keyPath: ['conversationId', 'block'] });
}

/** blockRange is the key range of conv's blocks up to block last (Infinity: all). */
export function blockRange(keyRange: typeof IDBKeyRange, conv: string, last: number): IDBKeyRange {
  return keyRange.bound([conv, 0], [conv, last]);
}

/**
 * writeMessages writes msgs in tx: each block they fall in is read, the
 * messages are merged into it by seq, and it is written back. Requests run
 * in the order they are made, so two writes of one block in a transaction
 * (or in two tabs' transactions, which IndexedDB serialises) each see the
 * other's messages.
 */
export function writeMessages(tx: IDBTransaction, msgs: StoredMessage[]): void {
  if (msgs.length === 0) return;
  const store = tx.objectStore(MESSAGE_BLOCKS);
  const groups = new Map<string, StoredMessage[]>();
  for (const m of msgs) {
    const id = `${blockOf(m.seq)} ${m.conversationId}`;
    const g = groups.get(id);
    if (g) g.push(m);
    else groups.set(id, [m]);
  }
  for (const g of groups.values()) {
    const conversationId = g[0]!.conversationId;
    const block = blockOf(g[0]!.seq);
    const r = store.get([conversationId, block]);
    r.onsuccess = () => {
      const blk = (r.result as MessageBlock | undefined) ?? { conversationId, block, messages: [] };
      for (const m of g) setMessage(blk.messages, m);
      store.put(blk);
    };
  }
}

/** setMessage puts m into ms (ascending by seq), replacing the message of its seq. */
function setMessage(ms: StoredMessage[], m: StoredMessage): void {
  const last = ms.at(-1);
  if (!last || last.seq < m.seq) {
    ms.push(m); // the common case: a page extends the block
    return;
  }
  const i = indexOf(ms, m.seq);
  if (ms[i]?.seq === m.seq) ms[i] = m;
  else ms.splice(i, 0, m);
}

/** indexOf is where seq is or would go in ms (ascending by seq). */
function indexOf(ms: StoredMessage[], seq: number): number {
  let lo = 0;
  let hi = ms.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** findMessage returns the message seq of a block read from the store, if it holds it. */
export function findMessage(blk: unknown, seq: number): StoredMessage | undefined {
  const ms = (blk as MessageBlock | undefined)?.messages;
  if (!ms) return undefined;
  const m = ms[indexOf(ms, seq)];
  return m?.seq === seq ? m : undefined;
}

/**
 * takeNewest appends to out, newest first, the messages of blk (read from
 * the store, walking a conversation's blocks newest first) with seq <
 * before (before 0: any), until out holds limit (limit 0: no limit). It
 * reports whether older blocks are still wanted.
 */
export function takeNewest(blk: unknown, before: number, limit: number, out: StoredMessage[]): boolean {
  const ms = (blk as MessageBlock).messages;
  for (let i = ms.length - 1; i >= 0; i--) {
    if (limit > 0 && out.length >= limit) return false;
    const m = ms[i]!;
    if (before <= 0 || m.seq < before) out.push(m);
  }
  return !(limit > 0 && out.length >= limit);
}

/** A consumer of the messages of an older cache, in key order. */
export interface MessageSink {
  add(m: StoredMessage): void;
  end(): void;
}

/**
 * migrateMessages moves a version 1 or 2 cache's messages into blocks,
 * inside the upgrade transaction tx, and drops their old store: one walk in
 * key order ([conversationId, seq]), so a block is complete when the walk
 * leaves it. also, when given, sees every message too (the search index of
 * a version 1 cache is built in the same walk).
 */
export function migrateMessages(tx: IDBTransaction, also: MessageSink | null): void {
  const blocks = tx.objectStore(MESSAGE_BLOCKS);
  let blk: MessageBlock | null = null;
  const req = tx.objectStore(OLD_MESSAGES).openCursor();
  req.onsuccess = () => {
    const cur = req.result;
    const m = cur?.value as StoredMessage | undefined;
    if (blk && (!m || blk.conversationId !== m.conversationId || blk.block !== blockOf(m.seq))) {
      blocks.put(blk);
      blk = null;
    }
    if (!cur || !m) {
      also?.end();
      tx.db.deleteObjectStore(OLD_MESSAGES);
      return;
    }
    blk ??= { conversationId: m.conversationId, block: blockOf(m.seq), messages: [] };
    blk.messages.push(m);
    also?.add(m);
    cur.continue();
  };
}
