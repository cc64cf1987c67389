import { useEffect, useState } from 'react';
import { createClient, ParleyError } from '@parley-im/react-native';
import type { ConnectionState, Conversation, ParleyClient } from '@parley-im/sdk';
import { WS_URL, tokenFor } from './config';

export interface Session {
  client: ParleyClient | null;
  state: ConnectionState;
  conversations: Conversation[];
  error: string | null;
}

/** useParley opens a client for user (in the ParleyHost mounted at the root), connects it and follows its conversation list. */
export function useParley(user: string | null): Session {
  const [client, setClient] = useState<ParleyClient | null>(null);
  const [state, setState] = useState<ConnectionState>('idle');
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!user) return;
    let closed = false;
    let c: ParleyClient | null = null;
    const offs: (() => void)[] = [];
    const refresh = async () => {
      if (c && !closed) setConversations(await c.conversations());
    };
    (async () => {
      try {
        c = await createClient({ url: WS_URL, token: tokenFor(user) });
        if (closed) {
          await c.close();
          return;
        }
        offs.push(c.on('state', (s) => setState(s.state)));
        offs.push(c.on('conversation', () => void refresh()));
        offs.push(
          c.on('kicked', (k) => setError(`signed out by the relay (${k.code}): ${k.reason}`)),
        );
        setClient(c);
        await refresh(); // the cache answers before the network does
        await c.connect();
        setState(c.state);
      } catch (e) {
        setError(e instanceof ParleyError ? `${e.code}: ${e.message}` : String(e));
      }
    })();
    return () => {
      closed = true;
      for (const off of offs) off();
      void c?.close();
      setClient(null);
    };
  }, [user]);

  return { client, state, conversations, error };
}
