// The IndexedDB search index: what makes client.search fast over a large
// cache. Measured in headless Chromium over 100,000 messages on 2 busy
// cores (bindings/bench/browser-bench.mjs measures the result):
//
//   - Reading a record costs tens of microseconds whatever its size, so a
//     cursor over every message takes 3 to 4 s.
//   - Blocks of texts cut the records to 400, but a search that finds
//     little still reads all the text (4 M characters), ~400 ms: reads are
//     bound by bytes.
//   - A bitset of each block's character n-grams is an eighth of that
//     (590 KB) and tells which blocks cannot hold the query: a rare term
//     reads its own blocks and a few more, ~90 ms; a common one stops after
//     a block or two, ~20 ms. The price is on writes: a batch reads and
//     rewrites its one or two blocks, ~20 % more IndexedDB time (~9 % for a
//     sync of 10,000 messages from the relay).
//
// So two stores, both keyed [conversationId, block], where a block is 256
// consecutive seqs of one conversation (sync and history write those
// together, so a batch touches one or two blocks):
//
//   searchText  the block's entries: seqs, createdAts and texts folded by
//               foldText (the Go core's folding), ascending by seq;
//   searchBits  the block's newest createdAt, indexed (over all
//               conversations and within one), and the bitset: one bit per
//               hashed unigram, bigram and trigram of the folded texts,
//               sized so that at most about 28% of the bits are set.
//
// A search walks searchBits newest first, reads the text block of each
// bitset holding every n-gram of the query (its trigrams; its bigram or
// unigram when shorter), and stops once it has a page of matches newer than
// every block left; the page's messages come from their message blocks
// (blocks.ts). Both stores are rewritten in the transaction that
// writes their messages, so they never disagree with them.
import { foldText } from '../fold.js';
import type { StorageSearchQuery, StoredMessage } from '../types.js';
import { MESSAGE_BLOCKS, blockOf, findMessage, type MessageSink } from './blocks.js';

export const SEARCH_TEXT = 'searchText';
export const SEARCH_BITS = 'searchBits';

/** Messages per block: a conversation's seqs [n·BLOCK, (n+1)·BLOCK). */
const BLOCK = 256;
/** Bitset sizes, in bits: powers of two. */
const MIN_BITS = 1 << 10;
const MAX_BITS = 1 << 16;

/** A record of searchText: parallel arrays, ascending by seq. Messages without text have no entry. */
interface TextBlock {
  conversationId: string;
  block: number;
  seqs: number[];
  createdAts: number[];
  texts: string[];
}

/** A record of searchBits. */
interface BitsBlock {
  conversationId: string;
  block: number;
  /** The newest createdAt in the block: the search order. */
  newest: number;
  bits: Uint8Array;
}

/** createSearchStores adds the two stores to a database being upgraded. */
export function createSearchStores(db: IDBDatabase): void {
  db.createObjectStore(SEARCH_TEXT, { keyPath: ['conversationId', 'block'] });
  const bits = db.createObjectStore(SEARCH_BITS, { keyPath: ['conversationId', 'block'] });
  bits.createIndex('newest', ['newest', 'conversationId', 'block']);
  bits.createIndex('conversationNewest', ['conversationId', 'newest', 'block']);
}

/** indexMessages updates the blocks of msgs, in the transaction that writes them. */
export function indexMessages(tx: IDBTransaction, msgs: StoredMessage[]): void {
  if (msgs.length === 0) return;
  const text = tx.objectStore(SEARCH_TEXT);
  const groups = new Map<string, StoredMessage[]>();
  for (const m of msgs) {
    const id = `${Math.floor(m.seq / BLOCK)} ${m.conversationId}`;
    const g = groups.get(id);
    if (g) g.push(m);
    else groups.set(id, [m]);
  }
  for (const g of groups.values()) {
    const key = blockKey(g[0]!);
    const r = text.get(key);
    r.onsuccess = () => {
      const blk = (r.result as TextBlock | undefined) ?? emptyBlock(key);
      for (const m of g) setEntry(blk, m);
      putBlock(tx, blk, r.result !== undefined);
    };
  }
}

/**
 * searchIndexer builds the blocks of a cache written before search
 * existed, inside its upgrade transaction, from its messages in key order
 * ([conversationId, seq]): a block is complete when they leave it.
 */
export function searchIndexer(tx: IDBTransaction): MessageSink {
  let blk: TextBlock | null = null;
  return {
    add(m) {
      if (blk && (blk.conversationId !== m.conversationId || blk.block !== Math.floor(m.seq / BLOCK))) {
        putBlock(tx, blk, false);
        blk = null;
      }
      blk ??= emptyBlock(blockKey(m));
      setEntry(blk, m);
    },
    end() {
      if (blk) putBlock(tx, blk, false);
      blk = null;
    },
  };
}

/**
 * search runs q in tx (over searchText, searchBits and messages) and
 * resolves with the page's messages, newest first.
 */
export function search(tx: IDBTransaction, q: StorageSearchQuery, keyRange: typeof IDBKeyRange): Promise<StoredMessage[]> {
  const grams = queryGrams(q.text);
  const text = tx.objectStore(SEARCH_TEXT);
  const conv = q.conversationId;
  const bitsStore = tx.objectStore(SEARCH_BITS);
  const req = conv
    ? bitsStore.index('conversationNewest').openCursor(keyRange.bound([conv], [conv, []]), 'prev')
    : bitsStore.index('newest').openCursor(null, 'prev');
  let hits: Hit[] = [];
  const found: [number, IDBRequest][] = [];
  return new Promise((resolve, reject) => {
    // The page's messages, read in this transaction (so from the same state).
    const fetch = () => {
      const blocks = tx.objectStore(MESSAGE_BLOCKS);
      for (const h of newestFirst(hits, q.limit)) found.push([h.seq, blocks.get([h.conversationId, blockOf(h.seq)])]);
    };
    const scan = (blk: TextBlock | undefined) => {
      if (!blk) return;
      const { texts, seqs, createdAts, conversationId } = blk;
      for (let i = 0; i < texts.length; i++) {
        if (texts[i]!.includes(q.text) && (!q.before || before(createdAts[i]!, conversationId, seqs[i]!, q.before))) {
          hits.push({ createdAt: createdAts[i]!, conversationId, seq: seqs[i]! });
        }
      }
    };
    req.onsuccess = () => {
      const cur = req.result;
      if (!cur) return fetch();
      const b = cur.value as BitsBlock;
      if (hits.length >= q.limit) {
        hits = newestFirst(hits, q.limit);
        // Every block left holds messages at most as new as this one's
        // newest: when the page's last is newer, none of them can join.
        if (hits[q.limit - 1]!.createdAt > b.newest) return fetch();
      }
      if (holdsAll(b.bits, grams)) {
        // Requests complete in the order they are made: this block is
        // scanned before the cursor moves on.
        const g = text.get([b.conversationId, b.block]);
        g.onsuccess = () => scan(g.result as TextBlock | undefined);
      }
      cur.continue();
    };
    tx.oncomplete = () => resolve(found.map(([seq, r]) => findMessage(r.result, seq)).filter((m): m is StoredMessage => m !== undefined));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** A search match: its position in search order. */
interface Hit {
  createdAt: number;
  conversationId: string;
  seq: number;
}

/** newestFirst sorts hits in search order and keeps the first limit. */
function newestFirst(hits: Hit[], limit: number): Hit[] {
  hits.sort((a, b) => (before(a.createdAt, a.conversationId, a.seq, b) ? 1 : before(b.createdAt, b.conversationId, b.seq, a) ? -1 : 0));
  if (hits.length > limit) hits.length = limit;
  return hits;
}

/**
 * before reports whether the stored message (createdAt, conversationId, seq)
 * sorts after cursor c in search order (core.SearchCursor.Less): stored
 * messages are unique by conversation and seq, so a cursor's clientId, which
 * only orders pending messages, never decides. Conversation ids are ASCII,
 * so UTF-16 order is Go's byte order.
 */
function before(createdAt: number, conversationId: string, seq: number, c: Hit): boolean {
  if (createdAt !== c.createdAt) return createdAt < c.createdAt;
  if (conversationId !== c.conversationId) return conversationId < c.conversationId;
  return seq < c.seq;
}

function blockKey(m: StoredMessage): [string, number] {
  return [m.conversationId, Math.floor(m.seq / BLOCK)];
}

function emptyBlock([conversationId, block]: [string, number]): TextBlock {
  return { conversationId, block, seqs: [], createdAts: [], texts: [] };
}

/** putBlock writes a block and its bitset, or deletes both when it has no entry left. */
function putBlock(tx: IDBTransaction, blk: TextBlock, existed: boolean): void {
  const text = tx.objectStore(SEARCH_TEXT);
  const bits = tx.objectStore(SEARCH_BITS);
  if (blk.seqs.length === 0) {
    if (existed) {
      text.delete([blk.conversationId, blk.block]);
      bits.delete([blk.conversationId, blk.block]);
    }
    return;
  }
  text.put(blk);
  const newest = blk.createdAts.reduce((a, b) => (b > a ? b : a), -Infinity);
  bits.put({ conversationId: blk.conversationId, block: blk.block, newest, bits: bitsOf(blk.texts) } satisfies BitsBlock);
}

/** setEntry puts m's entry into its block, or takes it out when m has no text. */
function setEntry(blk: TextBlock, m: StoredMessage): void {
  const text = m.text ? foldText(m.text) : '';
  const { seqs } = blk;
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqs[mid]! < m.seq) lo = mid + 1;
    else hi = mid;
  }
  const present = seqs[lo] === m.seq;
  if (text === '') {
    if (!present) return;
    seqs.splice(lo, 1);
    blk.createdAts.splice(lo, 1);
    blk.texts.splice(lo, 1);
  } else if (present) {
    blk.createdAts[lo] = m.createdAt;
    blk.texts[lo] = text;
  } else {
    seqs.splice(lo, 0, m.seq);
    blk.createdAts.splice(lo, 0, m.createdAt);
    blk.texts.splice(lo, 0, text);
  }
}

// N-grams are of UTF-16 code units, hashed to 32 bits; unigrams, bigrams
// and trigrams hash apart. A query is a substring of a text only if each of
// its n-grams is one of the text's, so a bitset without one of them rules
// the block out; bits only ever cost a wasted read, never a missed match.

function hash(n: number, a: number, b: number, c: number): number {
  let h = Math.imul(a ^ Math.imul(n, 0x27d4eb2d), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** queryGrams are the hashes a block must hold: the trigrams of text, or its bigram or unigram when shorter. */
function queryGrams(text: string): number[] {
  const c = (i: number) => text.charCodeAt(i);
  if (text.length === 1) return [hash(1, c(0), 0, 0)];
  if (text.length === 2) return [hash(2, c(0), c(1), 0)];
  const out: number[] = [];
  for (let i = 0; i + 2 < text.length; i++) out.push(hash(3, c(i), c(i + 1), c(i + 2)));
  return out;
}

function holdsAll(bits: Uint8Array, grams: number[]): boolean {
  const mask = bits.length * 8 - 1;
  for (const h of grams) {
    const x = h & mask;
    if ((bits[x >> 3]! & (1 << (x & 7))) === 0) return false;
  }
  return true;
}

const scratch = new Uint8Array(MAX_BITS / 8);

/**
 * bitsOf returns the bitset of texts: filled at the largest size, then
 * folded (the bit of hash h at size m is h mod m, so halving ORs the two
 * halves) to the smallest size at most about a third full.
 */
function bitsOf(texts: string[]): Uint8Array {
  scratch.fill(0);
  const mask = MAX_BITS - 1;
  const set = (h: number) => {
    const x = h & mask;
    scratch[x >> 3]! |= 1 << (x & 7);
  };
  for (const t of texts) {
    for (let i = 0; i < t.length; i++) {
      const a = t.charCodeAt(i);
      set(hash(1, a, 0, 0));
      if (i + 1 < t.length) {
        const b = t.charCodeAt(i + 1);
        set(hash(2, a, b, 0));
        if (i + 2 < t.length) set(hash(3, a, b, t.charCodeAt(i + 2)));
      }
    }
  }
  let ones = 0;
  for (const byte of scratch) ones += POPCOUNT[byte]!;
  // Distinct n-grams, estimated from how full the largest bitset is; aim for
  // 3 bits per n-gram (a bit set with odds of about 0.28).
  const full = Math.min(ones / MAX_BITS, 0.999);
  const grams = -MAX_BITS * Math.log(1 - full);
  let size = MIN_BITS;
  while (size < MAX_BITS && size < 3 * grams) size *= 2;
  const out = new Uint8Array(size / 8);
  for (let i = 0; i < scratch.length; i++) out[i % out.length]! |= scratch[i]!;
  return out;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let x = b; x; x >>= 1) n += x & 1;
  return n;
});
