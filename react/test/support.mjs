// Shared setup of the suites that render the hooks with React DOM (on
// happy-dom's document) in Node, over real clients of the built SDK and a
// real relay process. The exported bindings are live: they are set once the
// hooks registered by domSuite have run.
import { after, before } from 'node:test';
// From the SDK's suites: a relay process and clients of the built package.
import { clientFor, closeAll, startRelay } from '../../bindings/test/helpers.mjs';

/** The relay process of the file's tests. */
export let relay;
/** React, react-dom/client's createRoot and the built hooks package. */
export let React, createRoot, hooks;
/** Every client the tests open (clientFor's list); closed after them. */
export const open = [];

/**
 * domSuite registers the file's before and after hooks: a relay, a first
 * client (it loads parley.wasm and the WebSocket for Node; the SDK takes a
 * global `window` for a browser, so the DOM comes after it), happy-dom's
 * document as the global one, React and the hooks package; after the tests
 * every client, the relay and the document close.
 */
export function domSuite() {
  before(async () => {
    relay = await startRelay();
    await clientFor(relay, 'warmup', {}, open);
    const { Window } = await import('happy-dom');
    const win = new Window({ url: 'http://localhost/' });
    globalThis.window = win;
    globalThis.document = win.document;
    globalThis.navigator ??= win.navigator;
    // Renders happen on React's scheduler; the tests wait for what they expect.
    globalThis.IS_REACT_ACT_ENVIRONMENT = false;
    React = await import('react');
    ({ createRoot } = await import('react-dom/client'));
    hooks = await import('../dist/esm/index.js');
  });
  after(async () => {
    await closeAll(open);
    await relay?.stop();
    await globalThis.window?.happyDOM?.close();
  });
}

export const h = (...a) => React.createElement(...a);

/**
 * counted wraps a real client and counts the subscriptions open through it,
 * per event name, so a test sees what a hook left behind.
 */
export function counted(client) {
  const subs = new Map();
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === 'on') {
        return (event, handler) => {
          subs.set(event, (subs.get(event) ?? 0) + 1);
          const off = target.on(event, handler);
          let done = false;
          return () => {
            if (done) return;
            done = true;
            subs.set(event, subs.get(event) - 1);
            off();
          };
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const open = () => Object.fromEntries([...subs].filter(([, n]) => n !== 0));
  return { client: proxy, open };
}

/** Renders children in a provider into a fresh root; returns rerender/unmount. */
export function mount(client, children, { strict = false } = {}) {
  const el = document.createElement('div');
  document.body.appendChild(el);
  const root = createRoot(el);
  const tree = (c, kids) => {
    const p = h(hooks.ParleyProvider, { client: c }, kids);
    return strict ? h(React.StrictMode, null, p) : p;
  };
  root.render(tree(client, children));
  return {
    rerender: (c, kids = children) => root.render(tree(c, kids)),
    unmount: () => root.unmount(),
  };
}

/** probe renders the hook it is given and records every result in seen. */
export function probe(seen, use) {
  return function Probe() {
    seen.push(use());
    return null;
  };
}

export const last = (seen) => seen[seen.length - 1];
