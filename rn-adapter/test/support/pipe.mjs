// A transport like react-native-webview's: strings only, asynchronous, in
// order. pipe() returns the React Native end (a Transport) and the page end
// (post / onMessage), with fault knobs: hold or drop what goes either way.

export function pipe() {
  const toRN = new Set();
  const toPage = new Set();
  const state = { dropToPage: false, dropToRN: false, sentToPage: [], sentToRN: [] };
  // One queue per direction: each string is delivered in a task of its own,
  // after the current one, in the order posted.
  const deliver = (handlers, data) => setImmediate(() => { for (const h of [...handlers]) h(data); });
  const rn = {
    postMessage(data) {
      if (typeof data !== 'string') throw new TypeError('postMessage carries strings only');
      state.sentToPage.push(data);
      if (!state.dropToPage) deliver(toPage, data);
    },
    onMessage(handler) {
      toRN.add(handler);
      return () => toRN.delete(handler);
    },
  };
  const page = {
    post(data) {
      if (typeof data !== 'string') throw new TypeError('postMessage carries strings only');
      state.sentToRN.push(data);
      if (!state.dropToRN) deliver(toRN, data);
    },
    /** raw sends anything, as a misbehaving page or another script would. */
    raw(data) {
      deliver(toRN, data);
    },
    onMessage(handler) {
      toPage.add(handler);
      return () => toPage.delete(handler);
    },
  };
  return { rn, page, state };
}

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

export async function until(cond, { timeout = 5000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}
