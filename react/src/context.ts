import { createContext, createElement, useContext, type ReactNode } from 'react';
import type { ParleyClient } from '@parley-im/sdk';

const ClientContext = createContext<ParleyClient | null>(null);
ClientContext.displayName = 'ParleyClient';

/** Props of {@link ParleyProvider}. */
export interface ParleyProviderProps {
  /** The client the hooks below read from, made with `createClient`. */
  client: ParleyClient;
  children?: ReactNode;
}

/**
 * ParleyProvider makes a client available to the hooks of its subtree.
 *
 * It does not own the client: it neither connects nor closes it, so the app
 * decides when to call `connect()` and `close()` (after sign-in, on sign-out),
 * and StrictMode's double effects cannot close a client still in use. Give
 * it another client (another user signed in) and every hook below starts
 * over on the new one.
 *
 * ```tsx
 * const client = await createClient({ url, token });
 * void client.connect();
 * root.render(<ParleyProvider client={client}><App /></ParleyProvider>);
 * ```
 */
export function ParleyProvider({ client, children }: ParleyProviderProps): ReactNode {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/**
 * useClient returns the client of the nearest {@link ParleyProvider}, for
 * the calls that are not state: `sendText`, `markRead`, `p2p`, `createGroup`.
 * Throws when there is no provider above.
 */
export function useClient(): ParleyClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('@parley-im/react: useClient() needs a <ParleyProvider client={…}> above it');
  return client;
}
