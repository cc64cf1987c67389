// Groups: the arguments of the group methods, checked and turned into the
// one group operation the bridge takes (proto.GroupOp). @internal
import { invalid } from './errors.js';
import type { CreateGroupOptions, GroupUpdate, MembersOptions } from './types.js';

/** The group operation the bridge takes. @internal */
export interface BridgeGroupOp {
  conversationId: string;
  op: string;
  users?: string[];
  role?: string;
  until?: number;
  on?: boolean;
  note?: string;
  info?: { name?: string; avatar?: string; notice?: string; custom?: string; joinPolicy?: string };
}

const POLICIES = new Set(['invite', 'approval', 'open']);

function groupId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !id.startsWith('g:')) throw invalid(`${what} needs a group id (g:…)`);
  return id;
}

/** @internal */
export function flag(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw invalid(`${what}() needs true or false`);
  return v;
}

/** @internal */
export function text(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(`${what} must be a string`);
  return v;
}

/** @internal */
export function plainOp(op: string, id: unknown): BridgeGroupOp {
  return { conversationId: groupId(id, op), op };
}

/** @internal */
export function usersOp(op: string, id: unknown, users: unknown): BridgeGroupOp {
  if (!Array.isArray(users) || users.length === 0 || users.some((u) => typeof u !== 'string' || u === '')) {
    throw invalid(`${op} needs an array of user ids`);
  }
  return { conversationId: groupId(id, op), op, users: users as string[] };
}

/** @internal */
export function roleOp(id: unknown, user: unknown, role: unknown): BridgeGroupOp {
  if (role !== 'admin' && role !== 'member') throw invalid("setRole() needs 'admin' or 'member'");
  return { ...usersOp('role', id, [user]), role };
}

/** @internal */
export function muteOp(id: unknown, user: unknown, until: unknown): BridgeGroupOp {
  if (typeof until !== 'number' || !Number.isSafeInteger(until) || until < 0) throw invalid('muteMember() needs untilMs: unix ms, or 0 to unmute');
  return { ...usersOp('mute', id, [user]), until };
}

function info(o: Record<string, unknown>, keys: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(`${what}: ${k} must be a string`);
    if (k === 'joinPolicy' && !POLICIES.has(v)) throw invalid(`${what}: joinPolicy must be 'invite', 'approval' or 'open'`);
    out[k] = v;
  }
  return out;
}

/** @internal */
export function updateOp(id: unknown, update: GroupUpdate): BridgeGroupOp {
  if (typeof update !== 'object' || update === null) throw invalid('updateGroup() needs an object of the fields to change');
  const i = info(update as Record<string, unknown>, ['name', 'avatar', 'notice', 'custom', 'joinPolicy'], 'updateGroup()');
  if (Object.keys(i).length === 0) throw invalid('updateGroup() needs at least one field to change');
  return { conversationId: groupId(id, 'updateGroup()'), op: 'update', info: i };
}

/** The information of createGroup's options, or null when there is none. @internal */
export function groupInfo(o: CreateGroupOptions): Record<string, string> | null {
  const i = info(o as Record<string, unknown>, ['avatar', 'notice', 'custom', 'joinPolicy'], 'createGroup()');
  return Object.keys(i).length > 0 ? i : null;
}

/** @internal */
export function membersArgs(id: unknown, o: MembersOptions): [string, number] {
  groupId(id, 'members()');
  if (typeof o !== 'object' || o === null) throw invalid('members() options must be an object');
  const after = o.after ?? '';
  const limit = o.limit ?? 0;
  if (typeof after !== 'string') throw invalid('members() after must be a user id');
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) throw invalid('members() limit must be a non-negative integer');
  return [after, limit];
}
