// Conversions between the bridge's objects (bridge.gen.ts) and the
// public types the application sees: a body decoded, the cache's internals
// (syncedSeq, version, device) left out.
import type { BridgeEvent, StoredConversation, StoredMessage } from './bridge.gen.js';
import type { ClientEvents, ClientEventName, Conversation, Message } from './types.js';
import { lifecycleFields } from './lifecycle.js';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** base64 decoding without Node's Buffer (atob exists in browsers and Node ≥ 16). @internal */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * encodeBody turns a send's body into the bytes on the wire: raw bytes as
 * they are, anything else as UTF-8 JSON. @internal
 */
export function encodeBody(body: unknown): Uint8Array | null {
  if (body === undefined) return null;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  const json = JSON.stringify(body);
  if (json === undefined) throw new TypeError('body is not JSON-serialisable');
  return encoder.encode(json);
}

/**
 * decodeBody reverses encodeBody: base64 → UTF-8 → JSON.parse, falling back
 * to the raw bytes when the body is not UTF-8 JSON (e.g. from a Go client
 * that sent binary). @internal
 */
export function decodeBody(b64: string): unknown {
  const bytes = fromBase64(b64);
  try {
    return JSON.parse(strictDecoder.decode(bytes));
  } catch {
    return bytes;
  }
}

/** toMessage drops the cache's internals and decodes the body. @internal */
export function toMessage(b: StoredMessage): Message {
  const m: Message = {
    id: b.id,
    clientId: b.clientId,
    conversationId: b.conversationId,
    seq: b.seq,
    sender: b.sender,
    type: b.type,
    createdAt: b.createdAt,
    status: b.status,
  };
  if (b.text !== undefined && b.text !== '') m.text = b.text;
  if (b.body !== undefined && b.body !== '') m.body = decodeBody(b.body);
  if (b.localTime) m.localTime = b.localTime;
  if (b.errorCode) m.errorCode = b.errorCode;
  lifecycleFields(m, b);
  if (b.attachment) m.attachment = { ...b.attachment };
  return m;
}

/** toConversation drops the cache's internals (syncedSeq, version). @internal */
export function toConversation(b: StoredConversation): Conversation {
  const c: Conversation = {
    id: b.id,
    type: b.type,
    members: b.members ?? [],
    lastSeq: b.lastSeq,
    readSeq: b.readSeq,
    unread: b.unread,
    mentioned: b.mentioned === true,
    peerReadSeq: b.peerReadSeq ?? 0,
  };
  if (b.name) c.name = b.name;
  if (b.lastMessage) c.lastMessage = toMessage(b.lastMessage);
  if (b.pinned) c.pinned = true;
  if (b.muted) c.muted = true;
  if (b.hidden) c.hidden = true;
  if (b.draft) c.draft = b.draft;
  if (b.role) c.role = b.role as Conversation['role'];
  if (b.avatar) c.avatar = b.avatar;
  if (b.notice) c.notice = b.notice;
  if (b.custom) c.custom = b.custom;
  if (b.joinPolicy) c.joinPolicy = b.joinPolicy as Conversation['joinPolicy'];
  if (b.mutedUntil) {
    c.mutedUntil = b.mutedUntil;
    c.mutedInGroup = b.mutedUntil > Date.now();
  }
  if (b.muteAll) c.muteAll = true;
  return c;
}

/** A decoded event ready for the handlers of its name. @internal */
export type DecodedEvent = { [K in ClientEventName]: { name: K; payload: ClientEvents[K] } }[ClientEventName];

/** toEvent maps a bridge event to its public name and payload; null for kinds this version does not know. @internal */
export function toEvent(e: BridgeEvent): DecodedEvent | null {
  const info = () => {
    const out: { code?: number; reason?: string } = {};
    if (e.code) out.code = e.code;
    if (e.reason) out.reason = e.reason;
    return out;
  };
  switch (e.kind) {
    case 'state':
      return e.state ? { name: 'state', payload: { state: e.state, ...info() } } : null;
    case 'message':
      return e.message ? { name: 'message', payload: toMessage(e.message) } : null;
    case 'messageUpdate':
      return e.message ? { name: 'messageUpdate', payload: toMessage(e.message) } : null;
    case 'conversation':
      return e.conversation ? { name: 'conversation', payload: toConversation(e.conversation) } : null;
    case 'syncStart':
      return { name: 'syncStart', payload: info() };
    case 'syncEnd':
      return { name: 'syncEnd', payload: info() };
    case 'kicked':
      return { name: 'kicked', payload: { code: e.code ?? 0, reason: e.reason ?? '' } };
    case 'tokenWillExpire':
      return { name: 'tokenWillExpire', payload: undefined };
    case 'reset':
      return { name: 'reset', payload: undefined };
    case 'typing':
      return e.typing ? { name: 'typing', payload: { conversationId: e.typing.conversationId, user: e.typing.user } } : null;
    case 'contact':
      return e.relation ? { name: 'contact', payload: e.relation } : null;
    case 'contactRequest':
      return e.relation ? { name: 'contactRequest', payload: e.relation.note ? { user: e.relation.user, note: e.relation.note } : { user: e.relation.user } } : null;
    case 'contactAnswer':
      return e.answer ? { name: 'contactAnswer', payload: { user: e.answer.user, accepted: e.answer.accepted } } : null;
    case 'totalUnread':
      return { name: 'totalUnread', payload: e.total ?? 0 };
    case 'invitation':
    case 'joinRequest':
      return e.notice ? { name: e.kind, payload: e.notice } : null;
    case 'presence':
      return e.presence ? { name: 'presence', payload: { ...e.presence } } : null;
    case 'profile':
      return e.profile ? { name: 'profile', payload: { ...e.profile } } : null;
    default:
      return null;
  }
}
