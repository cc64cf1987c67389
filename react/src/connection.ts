import { useEffect, useState } from 'react';
import type { ConnectionState, ParleyClient } from '@parley-im/sdk';
import { useClient } from './context.js';

/** What {@link useConnectionState} returns. */
export interface ConnectionStatus {
  /** Where the connection stands. */
  state: ConnectionState;
  /** The close or error code behind the last change, when there is one (see `Codes`). */
  code?: number;
  /** The words that came with `code`. */
  reason?: string;
}

interface Held {
  client: ParleyClient;
  status: ConnectionStatus;
}

/**
 * useConnectionState follows the client's connection: `client.state` at
 * first, then every `state` event, with the code and reason of the change.
 *
 * ```tsx
 * const { state, code } = useConnectionState();
 * return <span className={`badge ${state}`}>{state}{code ? ` (${code})` : ''}</span>;
 * ```
 */
export function useConnectionState(): ConnectionStatus {
  const client = useClient();
  const [held, setHeld] = useState<Held>(() => ({ client, status: { state: client.state } }));

  useEffect(() => {
    // The state may have moved between render and this effect; events from
    // now on carry every later change.
    setHeld((h) => (h.client === client && h.status.state === client.state ? h : { client, status: { state: client.state } }));
    return client.on('state', (e) => {
      const status: ConnectionStatus = { state: e.state };
      if (e.code !== undefined) status.code = e.code;
      if (e.reason !== undefined) status.reason = e.reason;
      setHeld({ client, status });
    });
  }, [client]);

  // Another client: show its state from this render on, not the old one's.
  if (held.client !== client) return { state: client.state };
  return held.status;
}
