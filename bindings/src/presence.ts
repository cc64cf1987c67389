// Argument checks of the presence and profile calls (client.ts). The relay
// checks the same and answers with the same codes; checking here first
// fails fast, offline too.
import { Codes } from './codes.js';
import { ParleyError, invalid } from './errors.js';
import type { ProfileUpdate, SubscribePresenceOptions } from './types.js';

const MAX_STATUS_BYTES = 64;
const LIMITS: Record<keyof ProfileUpdate, number> = { nickname: 64, avatar: 512, custom: 512 };
const encoder = new TextEncoder();

/** checked runs check and turns what it throws into a rejected promise, as the async API expects. @internal */
export function checked<T>(check: () => T): Promise<T> {
  try {
    return Promise.resolve(check());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** @internal */
export function checkUsers(call: string, users: unknown): void {
  if (!Array.isArray(users) || users.some((u) => typeof u !== 'string' || u === '')) throw invalid(`${call}() needs an array of user ids`);
}

/** @internal */
export function checkStatus(status: unknown): void {
  if (status === undefined) return;
  if (typeof status !== 'string') throw invalid('setStatus() needs a string or undefined');
  if (encoder.encode(status).length > MAX_STATUS_BYTES) throw new ParleyError(Codes.StatusTooLong, `status above ${MAX_STATUS_BYTES} bytes`);
}

/** Returns the ttl in ms to pass on (0: the relay's default, a day). @internal */
export function checkPresenceArgs(call: string, users: unknown, options: SubscribePresenceOptions): number {
  checkUsers(call, users);
  if (typeof options !== 'object' || options === null) throw invalid(`${call} options must be an object`);
  const ttl = options.ttlMs ?? 0;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0) throw invalid('ttlMs must be a non-negative integer');
  return ttl;
}

/** @internal */
export function checkProfile(profile: unknown): void {
  if (typeof profile !== 'object' || profile === null) throw invalid('setProfile() needs an object');
  const p = profile as Record<string, unknown>;
  for (const key of Object.keys(LIMITS) as (keyof ProfileUpdate)[]) {
    const v = p[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(`setProfile(): ${key} must be a string`);
    if (encoder.encode(v).length > LIMITS[key]) throw new ParleyError(Codes.BadProfile, `${key} above ${LIMITS[key]} bytes`);
  }
  if (Object.keys(LIMITS).every((k) => p[k] === undefined)) throw invalid('setProfile() needs nickname, avatar or custom');
}
