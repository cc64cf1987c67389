import { useEffect, useMemo, useState } from 'react';
import type { Member, ParleyClient, Presence, Profile } from '@parley-im/sdk';
import { useClient } from './context.js';

/** A stable key of a list of user ids, so an inline array does not start a hook over. */
function keyOf(users: readonly string[]): string {
  return JSON.stringify(users);
}

/** What {@link usePresence} returns. */
export interface PresenceResult {
  /** The presence of each user asked, by user id; a user not read yet is absent. */
  presence: Record<string, Presence>;
  /** The last subscription refused (offline: retried on the next connection). */
  error?: Error;
}

/**
 * usePresence subscribes this user to the presence of `users` and follows
 * it: the subscription's answer, then every `presence` event. It subscribes
 * again on every connection (a subscription made offline waits for one), so
 * the dots are right after a reconnect. Unmounting stops listening but does
 * not unsubscribe: subscriptions belong to the user, shared by every
 * component and device, and expire by themselves (a day); call
 * `client.unsubscribePresence` to end one.
 *
 * ```tsx
 * const { presence } = usePresence(['bob', 'carol']);
 * return <span className={presence.bob?.online ? 'dot on' : 'dot'} />;
 * ```
 */
export function usePresence(users: readonly string[]): PresenceResult {
  const client = useClient();
  const key = keyOf(users);
  const [held, setHeld] = useState<{ client: ParleyClient; key: string; result: PresenceResult }>(() => ({ client, key, result: { presence: {} } }));

  useEffect(() => {
    const list: string[] = JSON.parse(key);
    const wanted = new Set(list);
    let live = true;
    const put = (ps: Presence[]) =>
      setHeld((h) => {
        const base = h.client === client && h.key === key ? h.result.presence : {};
        const presence = { ...base };
        for (const p of ps) if (wanted.has(p.user)) presence[p.user] = p;
        return { client, key, result: { presence } };
      });
    const subscribe = () => {
      if (list.length === 0) return;
      client.subscribePresence(list).then(
        (ps) => live && put(ps),
        (error: Error) => live && setHeld((h) => ({ client, key, result: { presence: h.client === client && h.key === key ? h.result.presence : {}, error } })),
      );
    };
    setHeld((h) => (h.client === client && h.key === key ? h : { client, key, result: { presence: {} } }));
    if (client.state === 'connected') subscribe();
    const offPresence = client.on('presence', (p) => put([p]));
    const offState = client.on('state', (e) => {
      if (e.state === 'connected') subscribe();
    });
    return () => {
      live = false;
      offPresence();
      offState();
    };
  }, [client, key]);

  if (held.client !== client || held.key !== key) return { presence: {} };
  return held.result;
}

/** What {@link useProfiles} returns. */
export interface ProfilesResult {
  /** The profiles of the users asked, in order, once read. */
  profiles: Profile[];
  /** True until the first read settles. */
  loading: boolean;
  /** The read failed (offline, and a profile never read: 4901). */
  error?: Error;
}

/**
 * useProfiles reads the profiles of `users` (`client.profiles`: from the
 * client's cache, or the relay) and keeps them current with the `profile`
 * events; it reads again on every connection, so a read that failed offline
 * is done when the client connects. A deleted user's profile says `deleted`.
 *
 * ```tsx
 * const { profiles } = useProfiles(message.sender ? [message.sender] : []);
 * const p = profiles[0];
 * return <b>{p?.deleted ? 'Deleted user' : p?.nickname ?? message.sender}</b>;
 * ```
 */
export function useProfiles(users: readonly string[]): ProfilesResult {
  const client = useClient();
  const key = keyOf(users);
  const [held, setHeld] = useState<{ client: ParleyClient; key: string; result: ProfilesResult }>(() => ({ client, key, result: { profiles: [], loading: true } }));

  useEffect(() => {
    const list: string[] = JSON.parse(key);
    let live = true;
    const same = (h: { client: ParleyClient; key: string }) => h.client === client && h.key === key;
    const read = () => {
      if (list.length === 0) {
        setHeld({ client, key, result: { profiles: [], loading: false } });
        return;
      }
      client.profiles(list).then(
        (profiles) => live && setHeld({ client, key, result: { profiles, loading: false } }),
        (error: Error) => live && setHeld((h) => ({ client, key, result: { profiles: same(h) ? h.result.profiles : [], loading: false, error } })),
      );
    };
    setHeld((h) => (same(h) ? h : { client, key, result: { profiles: [], loading: true } }));
    read();
    const offProfile = client.on('profile', (p) => {
      setHeld((h) => {
        if (!same(h) || !h.result.profiles.some((q) => q.user === p.user)) return h;
        return { client, key, result: { ...h.result, profiles: h.result.profiles.map((q) => (q.user === p.user ? p : q)) } };
      });
    });
    const offState = client.on('state', (e) => {
      if (e.state === 'connected') read();
    });
    return () => {
      live = false;
      offProfile();
      offState();
    };
  }, [client, key]);

  if (held.client !== client || held.key !== key) return { profiles: [], loading: true };
  return held.result;
}

/**
 * useProfile is {@link useProfiles} for one user: their profile once read,
 * `undefined` before (or for no user).
 */
export function useProfile(user: string | null | undefined): Profile | undefined {
  const users = useMemo(() => (user ? [user] : []), [user]);
  return useProfiles(users).profiles[0];
}

/**
 * useTotalUnread follows `client.totalUnread()` (unread messages over the
 * conversations neither muted nor hidden) through the `totalUnread` event:
 * what a tab title or an app badge shows.
 *
 * ```tsx
 * const total = useTotalUnread();
 * useEffect(() => { document.title = total ? `(${total}) Chat` : 'Chat'; }, [total]);
 * ```
 */
export function useTotalUnread(): number {
  const client = useClient();
  const [held, setHeld] = useState<{ client: ParleyClient; total: number }>(() => ({ client, total: 0 }));

  useEffect(() => {
    let live = true;
    let evented = false;
    setHeld((h) => (h.client === client ? h : { client, total: 0 }));
    const off = client.on('totalUnread', (total) => {
      evented = true;
      setHeld({ client, total });
    });
    client.totalUnread().then(
      (total) => live && !evented && setHeld({ client, total }),
      () => {},
    );
    return () => {
      live = false;
      off();
    };
  }, [client]);

  return held.client === client ? held.total : 0;
}

/** What {@link useMembers} returns. */
export interface MembersResult {
  /** Every member of the group with their role, in user id order. */
  members: Member[];
  /** True until the first read settles. */
  loading: boolean;
  /** The read failed (offline: 4901; not a member: 4203). */
  error?: Error;
  /** Reads the members again. */
  reload: () => void;
}

/**
 * useMembers reads every member of a group (`client.members`, page after
 * page) and reads them again when the group changes: a `conversation` event
 * of it with a system message (someone added, removed, promoted, muted…) or
 * another member list, and on every connection.
 *
 * ```tsx
 * const { members } = useMembers(groupId);
 * return <ul>{members.map((m) => <li key={m.user}>{m.user} ({m.role})</li>)}</ul>;
 * ```
 */
export function useMembers(groupId: string | null | undefined): MembersResult {
  const client = useClient();
  const [tick, setTick] = useState(0);
  const [held, setHeld] = useState<{ client: ParleyClient; groupId: string | null | undefined; result: Omit<MembersResult, 'reload'> }>(() => ({
    client,
    groupId,
    result: { members: [], loading: Boolean(groupId) },
  }));

  useEffect(() => {
    let live = true;
    const same = (h: { client: ParleyClient; groupId: string | null | undefined }) => h.client === client && h.groupId === groupId;
    if (!groupId) {
      setHeld({ client, groupId, result: { members: [], loading: false } });
      return undefined;
    }
    let generation = 0;
    const read = async () => {
      const mine = ++generation;
      try {
        const all: Member[] = [];
        for (let after: string | undefined; ; ) {
          const page = await client.members(groupId, after === undefined ? {} : { after });
          all.push(...page);
          if (page.length < 500) break;
          after = page[page.length - 1]!.user;
        }
        if (live && mine === generation) setHeld({ client, groupId, result: { members: all, loading: false } });
      } catch (error) {
        if (live && mine === generation) {
          setHeld((h) => ({ client, groupId, result: { members: same(h) ? h.result.members : [], loading: false, error: error as Error } }));
        }
      }
    };
    setHeld((h) => (same(h) ? h : { client, groupId, result: { members: [], loading: true } }));
    void read();
    let lastMembers = '';
    const offConv = client.on('conversation', (c) => {
      if (c.id !== groupId) return;
      const members = JSON.stringify(c.members ?? []);
      const changed = members !== lastMembers;
      lastMembers = members;
      if (changed || c.lastMessage?.type === 'system') void read();
    });
    const offState = client.on('state', (e) => {
      if (e.state === 'connected') void read();
    });
    return () => {
      live = false;
      offConv();
      offState();
    };
  }, [client, groupId, tick]);

  const reload = useMemo(() => () => setTick((n) => n + 1), []);
  if (held.client !== client || held.groupId !== groupId) return { members: [], loading: Boolean(groupId), reload };
  return { ...held.result, reload };
}
