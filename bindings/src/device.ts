// Per-tab device ids for browsers.
//
// Several tabs of one user share the IndexedDB cache, but each tab is its own
// device to the relay: two connections with one device id would replace each
// other (kicked, 4003). The id lives in sessionStorage, which survives
// reloads of a tab but is not shared with other tabs. Browsers copy
// sessionStorage into a duplicated tab, so a Web Lock named after the id
// proves it is not in use elsewhere; a tab that finds it taken makes its own.

const KEY = 'parley.deviceId';

// Ids held by clients of this realm: a second client in the same tab gets a
// fresh id for itself and leaves the tab's id alone.
const held = new Set<string>();

/** A device id and the release of its claim. @internal */
export interface DeviceClaim {
  id: string;
  release(): void;
}

/**
 * claimTabDeviceId returns this tab's device id, or null when there is no
 * sessionStorage (Node, workers, mini-programs), in which case the caller
 * leaves the choice to the storage or the wasm module.
 * @internal
 */
export async function claimTabDeviceId(): Promise<DeviceClaim | null> {
  const ss = sessionStore();
  if (!ss) return null;
  let id = read(ss);
  let persist = true;
  if (!id) {
    id = newDeviceId();
  } else if (held.has(id)) {
    id = newDeviceId();
    persist = false;
  }
  let unlock: (() => void) | null = null;
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (locks) {
    unlock = await tryLock(locks, id);
    if (!unlock) {
      // Taken by another tab: this one is a duplicate with a copied sessionStorage.
      id = newDeviceId();
      persist = true;
      unlock = await tryLock(locks, id);
    }
  }
  if (persist) write(ss, id);
  held.add(id);
  const claimed = id;
  return {
    id: claimed,
    release() {
      held.delete(claimed);
      unlock?.();
      unlock = null;
    },
  };
}

/** newDeviceId returns `web-` and 16 random hex digits: a valid proto name. @internal */
export function newDeviceId(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function tryLock(locks: LockManager, id: string): Promise<(() => void) | null> {
  return new Promise((resolve) => {
    locks
      .request(`parley-device:${id}`, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        // Held until release() resolves this promise.
        return new Promise<void>((done) => resolve(done));
      })
      .catch(() => resolve(null));
  });
}

function sessionStore(): Storage | null {
  try {
    const ss = (globalThis as { sessionStorage?: Storage }).sessionStorage;
    return ss ?? null;
  } catch {
    return null; // sandboxed iframes throw on access
  }
}

function read(ss: Storage): string | null {
  try {
    const id = ss.getItem(KEY);
    return id && /^[A-Za-z0-9_.@-]{1,64}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}

function write(ss: Storage, id: string): void {
  try {
    ss.setItem(KEY, id);
  } catch {
    // Storage full or disabled: the id lasts for this page only.
  }
}
