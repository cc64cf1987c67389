// Ambient declarations for modules this package loads without their types.

// The `ws` package, imported lazily in Node only (node.ts); its types are not
// a dependency of ours.
declare module 'ws' {
  const WebSocket: unknown;
  export default WebSocket;
  export { WebSocket };
}
