// Node-only helpers, loaded with a dynamic import and mapped to `false` in
// package.json's `browser` field, so browser bundles never see node:fs or ws.
import type { WebSocketConstructor } from './types.js';

/** readFileBytes reads a file given as a path or a file: URL. @internal */
export async function readFileBytes(file: string | URL): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  return readFile(file);
}

/** nodeWebSocket loads the `ws` package's WebSocket. @internal */
export async function nodeWebSocket(): Promise<WebSocketConstructor> {
  const mod = (await import('ws')) as { WebSocket?: unknown; default?: unknown };
  return (mod.WebSocket ?? mod.default) as WebSocketConstructor;
}
