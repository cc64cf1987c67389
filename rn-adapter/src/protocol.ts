// The bridge protocol between React Native and the host page: JSON text,
// because react-native-webview carries strings only.
//
// Every message is one JSON object with a marker and the version it is
// written in:
//
//   {"parley":"rn","v":1,"t":"<type>", ...fields of that type}
//
// hello and ready have the same shape in every version, so two sides that
// share no version still find out:
//
//   RN → page   hello     {vs:[1]}                      the versions RN speaks
//   page → RN   ready     {vs:[1], boot, sdk}           on load, and in answer to hello;
//                                                       a new boot id = a new page
//
// Version 1, once both sides chose it:
//
//   RN → page   open      {id, c, o, tf, lg, ev}        create client c (options o; tf: the
//                                                       token is a function; lg: forward logs;
//                                                       ev: event names to forward)
//               call      {id, c, m, a}                 c[m](...a)
//               sub       {c, ev}                       forward event ev of client c
//               answer    {id, ok, r | e}               the reply to an ask
//   page → RN   result    {id, ok, r | e, s?}           the reply to open or call; s: the
//                                                       client's getters after it
//               event     {c, ev, p, s}                 an event of client c, in order
//               accepted  {id, clientId}                the send of request id is in the
//                                                       outbox under clientId
//               ask       {id, c, m}                    a question for RN (m: "token")
//               log       {c, level, message}           a diagnostic of client c
//
// Calls (the SDK's Call holds MediaStreams and peer connections, which stay
// in the page) cross as snapshots {id, conversationId, direction, peers,
// media, state, localStream?, remoteStreams}, streams as {id, audio, video}:
//
//   RN → page   call      m "call"      places a call; the result is its snapshot
//               call      m "$callOp"   a: [callId, op, ...args], op one of accept,
//                                       reject, hangup, setMicrophoneEnabled,
//                                       setCameraEnabled (4260: no such live call)
//   page → RN   event     ev "call"     p: the snapshot of a call ringing here
//               event     ev "$call"    p: {id, ev, p, call}: an event of a call
//                                       (state, remoteStream, ended) and its snapshot
//
// Errors travel as {code, message}. Values go through encodeValue, which
// keeps what JSON loses: bytes, undefined in arrays.

/** The marker every message of this protocol carries. @internal */
export const MARKER = 'rn';

/** The protocol versions this package speaks, newest last. @internal */
export const VERSIONS: readonly number[] = [1];

/** The getters of a client after a call or an event. @internal */
export type Props = Record<string, unknown>;

/** An error as it crosses the bridge. @internal */
export interface WireError {
  code: number;
  message: string;
}

/** A message to the page. @internal */
export type ToPage =
  | { t: 'hello'; vs: number[] }
  | { t: 'open'; id: number; c: number; o: unknown; tf: boolean; lg: boolean; ev: string[] }
  | { t: 'call'; id: number; c: number; m: string; a: unknown[] }
  | { t: 'sub'; c: number; ev: string }
  | { t: 'answer'; id: number; ok: true; r: unknown }
  | { t: 'answer'; id: number; ok: false; e: WireError };

/** A message from the page. @internal */
export type FromPage =
  | { t: 'ready'; vs: number[]; boot: string; sdk?: string }
  | { t: 'result'; id: number; ok: true; r: unknown; s?: Props }
  | { t: 'result'; id: number; ok: false; e: WireError; s?: Props }
  | { t: 'event'; c: number; ev: string; p: unknown; s?: Props }
  | { t: 'accepted'; id: number; clientId: string }
  | { t: 'ask'; id: number; c: number; m: string }
  | { t: 'log'; c: number; level: string; message: string };

/** encode writes one message as its JSON text. @internal */
export function encode(v: number, msg: ToPage | FromPage): string {
  return JSON.stringify({ parley: MARKER, v, ...msg });
}

/** A decoded message: its version and body. @internal */
export interface Decoded<T> {
  v: number;
  msg: T;
}

/**
 * decode parses one string from the other side. It returns null for
 * anything that is not a message of this protocol with the fields its type
 * needs: foreign strings share the channel (other scripts post messages on
 * window too), and a bad string must never throw into the bridge.
 * @internal
 */
export function decode<T extends ToPage | FromPage>(data: unknown): Decoded<T> | null {
  if (typeof data !== 'string' || data.length === 0 || data[0] !== '{') return null;
  let o: unknown;
  try {
    o = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const m = o as Record<string, unknown>;
  if (m.parley !== MARKER || !isCount(m.v) || typeof m.t !== 'string') return null;
  if (!wellFormed(m)) return null;
  return { v: m.v, msg: m as unknown as T };
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isVersions(x: unknown): x is number[] {
  return Array.isArray(x) && x.length > 0 && x.length < 64 && x.every(isCount);
}

function isError(x: unknown): x is WireError {
  return typeof x === 'object' && x !== null && typeof (x as WireError).code === 'number' && typeof (x as WireError).message === 'string';
}

function isProps(x: unknown): boolean {
  return x === undefined || (typeof x === 'object' && x !== null && !Array.isArray(x));
}

// wellFormed checks the fields each type needs; unknown types pass (a newer
// side may send them), and the receiver ignores them.
function wellFormed(m: Record<string, unknown>): boolean {
  switch (m.t) {
    case 'hello':
      return isVersions(m.vs);
    case 'ready':
      return isVersions(m.vs) && typeof m.boot === 'string' && m.boot !== '';
    case 'open':
      return isCount(m.id) && isCount(m.c) && typeof m.tf === 'boolean' && typeof m.lg === 'boolean' && Array.isArray(m.ev) && m.ev.every((e) => typeof e === 'string');
    case 'call':
      return isCount(m.id) && isCount(m.c) && typeof m.m === 'string' && Array.isArray(m.a);
    case 'sub':
      return isCount(m.c) && typeof m.ev === 'string';
    case 'answer':
    case 'result':
      return isCount(m.id) && (m.ok === true ? 'r' in m || m.r === undefined : m.ok === false && isError(m.e)) && isProps(m.s);
    case 'event':
      return isCount(m.c) && typeof m.ev === 'string' && isProps(m.s);
    case 'accepted':
      return isCount(m.id) && typeof m.clientId === 'string' && m.clientId !== '';
    case 'ask':
      return isCount(m.id) && isCount(m.c) && typeof m.m === 'string';
    case 'log':
      return isCount(m.c) && typeof m.level === 'string' && typeof m.message === 'string';
    default:
      return true;
  }
}

/** choose picks the newest version both sides speak, or 0 when there is none. @internal */
export function choose(ours: readonly number[], theirs: readonly number[]): number {
  let best = 0;
  for (const v of theirs) if (ours.includes(v) && v > best) best = v;
  return best;
}

// Values: JSON plus what the client API needs and JSON loses. Tags are
// objects with one key starting with "$":
//   {"$b": "<base64>"}   a Uint8Array (an ArrayBuffer arrives as one too)
//   {"$u": 1}            undefined (in arrays: an argument left out)
//   {"$o": {...}}        an object whose own keys would look like a tag
// Anything else is plain JSON.

const TAGS = ['$b', '$u', '$o'];

/** encodeValue makes v JSON-safe (see the tags above). @internal */
export function encodeValue(v: unknown): unknown {
  if (v === undefined) return { $u: 1 };
  if (v === null || typeof v !== 'object') {
    return typeof v === 'function' || typeof v === 'symbol' ? { $u: 1 } : typeof v === 'bigint' ? Number(v) : v;
  }
  if (v instanceof Uint8Array) return { $b: toBase64(v) };
  if (v instanceof ArrayBuffer) return { $b: toBase64(new Uint8Array(v)) };
  if (ArrayBuffer.isView(v)) return { $b: toBase64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v instanceof Date) return v.toJSON();
  const out: Record<string, unknown> = {};
  let tagLike = false;
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify
    if (TAGS.includes(k)) tagLike = true;
    out[k] = encodeValue(x);
  }
  return tagLike ? { $o: out } : out;
}

/** decodeValue reverses encodeValue. @internal */
export function decodeValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(decodeValue);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    if (keys[0] === '$u') return undefined;
    if (keys[0] === '$b' && typeof o.$b === 'string') return fromBase64(o.$b);
    if (keys[0] === '$o' && typeof o.$o === 'object' && o.$o !== null) return decodeFields(o.$o as Record<string, unknown>);
  }
  return decodeFields(o);
}

function decodeFields(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    const d = decodeValue(x);
    if (d !== undefined) out[k] = d;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX: Record<string, number> = Object.fromEntries(Array.from(B64, (ch, i) => [ch, i]));

// Base64 by hand: Hermes has neither Buffer nor (in older releases) btoa.

/** toBase64 encodes bytes as standard base64. @internal */
export function toBase64(b: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  if (i < b.length) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + (i + 1 < b.length ? B64[(n >> 6) & 63]! : '=') + '=';
  }
  return out;
}

/** fromBase64 decodes standard base64, ignoring characters outside the alphabet. @internal */
export function fromBase64(s: string): Uint8Array {
  const clean = s.replace(/[^A-Za-z0-9+/]/g, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < clean.length; i += 4) {
    const n =
      (B64_INDEX[clean[i]!]! << 18) |
      ((B64_INDEX[clean[i + 1] ?? 'A'] ?? 0) << 12) |
      ((B64_INDEX[clean[i + 2] ?? 'A'] ?? 0) << 6) |
      (B64_INDEX[clean[i + 3] ?? 'A'] ?? 0);
    out[o++] = n >> 16;
    if (i + 2 < clean.length) out[o++] = (n >> 8) & 255;
    if (i + 3 < clean.length) out[o++] = n & 255;
  }
  return out.subarray(0, o);
}

/**
 * sendKey names what a send puts on the wire, so the page and React Native
 * can tell which outbox entry a send became without its client id:
 * conversation, type, text and the body's bytes (a Uint8Array as is,
 * anything else as its JSON, as @parley-im/sdk encodes it).
 * @internal
 */
export function sendKey(conversationId: unknown, type: unknown, text: unknown, body: unknown): string {
  let bytes = '';
  if (body instanceof Uint8Array) bytes = toBase64(body);
  else if (body instanceof ArrayBuffer) bytes = toBase64(new Uint8Array(body));
  else if (body !== undefined) bytes = toBase64(utf8(JSON.stringify(body) ?? ''));
  return JSON.stringify([String(conversationId), String(type), typeof text === 'string' ? text : '', bytes]);
}

function utf8(s: string): Uint8Array {
  // TextEncoder is not everywhere React Native runs; this is RFC 3629 by hand.
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}
