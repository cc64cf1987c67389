// Which shard serves a user: the same function as the relay's Go ShardOf
// (relay/bus_shard.go), FNV-1a 32-bit of the user id's UTF-8 bytes, mod the
// number of shards. Both sides must agree: the front door routes a user's
// WebSocket to the shard that the other shards send that user's fan-out to.
// relay/testdata/shard_vectors.json pins them together.

// DEFAULT_SHARDS is how many shard objects a deployment spreads its
// WebSockets over when PARLEY_SHARDS does not say.
export const DEFAULT_SHARDS = 8;
// MAX_SHARDS bounds PARLEY_SHARDS: every shard may be woken at once (when
// the store object starts), and a fan-out to a large group may call each.
export const MAX_SHARDS = 256;

// shardCount reads PARLEY_SHARDS (1 to MAX_SHARDS) from the Worker's
// variables; anything else is an error, so that a typo is not a silent
// reshuffle of every user.
export function shardCount(env) {
  const v = env.PARLEY_SHARDS;
  if (v === undefined || v === null || v === "") return DEFAULT_SHARDS;
  const n = /^[0-9]+$/.test(String(v)) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_SHARDS)) {
    throw new Error(`PARLEY_SHARDS must be an integer from 1 to ${MAX_SHARDS}, not ${JSON.stringify(v)}`);
  }
  return n;
}

// DEFAULT_STORES is how many store objects (partitions) a deployment
// spreads its conversations over when PARLEY_STORES does not say.
export const DEFAULT_STORES = 4;
// MAX_STORES bounds PARLEY_STORES: every sync asks each store object.
export const MAX_STORES = 64;

// storeCount reads PARLEY_STORES (1 to MAX_STORES). A conversation lives in
// the store object its id hashes to, so the number is fixed once the
// deployment holds data: the store object of partition 0 records it and
// refuses to run with another.
export function storeCount(env) {
  const v = env.PARLEY_STORES;
  if (v === undefined || v === null || v === "") return DEFAULT_STORES;
  const n = /^[0-9]+$/.test(String(v)) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_STORES)) {
    throw new Error(`PARLEY_STORES must be an integer from 1 to ${MAX_STORES}, not ${JSON.stringify(v)}`);
  }
  return n;
}

const utf8 = new TextEncoder();

export function shardOf(user, shards) {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(user)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}
