// A WebSocket-compatible class over wx.connectSocket's SocketTask: what
// parley.wasm dials with (the `WebSocket` of its own global object; nothing
// is put on the app's global object). It implements what the module uses —
// binaryType "arraybuffer", addEventListener/removeEventListener for open,
// message, error and close, send, close(code, reason), readyState and
// bufferedAmount — plus the on* handler properties.
//
// A SocketGroup holds every socket of one runtime, so the lifecycle can
// pause them all: close the open ones with 1000 (a normal closure) and fail
// new ones at once until resume (a mini-program cannot use the network while
// it is in the background; the client retries with its backoff, and resume
// has it dial at once).
import type { SocketTask, Wx } from './wx.js';
import { errorText } from './wx.js';

type Listener = (ev: SocketEvent) => void;

/** The event objects the shim dispatches. */
export interface SocketEvent {
  type: string;
  target: object;
  data?: ArrayBuffer | string;
  code?: number;
  reason?: string;
  wasClean?: boolean;
  message?: string;
}

/** A WebSocket class bound to one group, and the group. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WxWebSocket;

/** SocketGroup tracks the sockets of one runtime for pause and resume. */
export class SocketGroup {
  readonly live = new Set<WxWebSocket>();
  paused = false;
  /** SocketTasks created so far (for tests and diagnostics). */
  opened = 0;

  constructor(readonly wx: Wx) {}

  /** pause closes the open sockets with a normal closure; new ones fail until resume. */
  pause(reason = 'app hidden'): void {
    this.paused = true;
    for (const s of [...this.live]) s.close(1000, reason);
  }

  /** resume lets new sockets connect again. */
  resume(): void {
    this.paused = false;
  }

  /** closed resolves once no socket of the group is open or closing (or after ms). */
  async closed(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while ([...this.live].some((s) => s.readyState === OPEN || s.readyState === CLOSING) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** webSocketClass returns the WebSocket class whose sockets belong to this group. */
  webSocketClass(): WebSocketClass {
    const group = this;
    return class extends WxWebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(group, url, protocols);
      }
    };
  }
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** WxWebSocket is the WebSocket over a SocketTask. Construct it through {@link SocketGroup.webSocketClass}. */
export class WxWebSocket {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;

  readonly url: string;
  readonly protocols: string[];
  readyState = CONNECTING;
  /** Only "arraybuffer" exists here: a SocketTask delivers binary frames as ArrayBuffers. */
  binaryType = 'arraybuffer';
  /** Bytes handed to SocketTask.send whose success or failure has not been reported yet. */
  bufferedAmount = 0;
  readonly extensions = '';
  readonly protocol = '';
  onopen: Listener | null = null;
  onmessage: Listener | null = null;
  onerror: Listener | null = null;
  onclose: Listener | null = null;

  #task: SocketTask | null = null;
  #listeners = new Map<string, Listener[]>();
  #group: SocketGroup;
  #closeSent = false;
  #closeWanted: { code: number; reason: string } | null = null;

  constructor(group: SocketGroup, url: string, protocols?: string | string[]) {
    if (!(group instanceof SocketGroup)) throw new TypeError('construct WxWebSocket through SocketGroup.webSocketClass()');
    if (typeof url !== 'string' || !/^wss?:\/\//i.test(url)) throw new SyntaxError(`WebSocket: "${String(url)}" is not a ws:// or wss:// URL`);
    this.url = url;
    this.protocols = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    this.#group = group;
    group.live.add(this);
    if (group.paused) {
      // As a socket that cannot connect: error, then close 1006, after the constructor returns.
      setTimeout(() => this.#ended(1006, 'the mini-program is in the background', 'the mini-program is in the background'), 0);
      return;
    }
    this.#start();
  }

  #start(): void {
    const g = this.#group;
    g.opened++;
    let failed = false;
    const task = g.wx.connectSocket({
      url: this.url,
      ...(this.protocols.length > 0 ? { protocols: this.protocols } : {}),
      tcpNoDelay: true,
      fail: (err) => {
        // E.g. the five-socket limit, a domain not on the list, a bad URL.
        if (failed) return;
        failed = true;
        this.#ended(1006, errorText(err), errorText(err));
      },
    });
    this.#task = task;
    task.onOpen(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this.#dispatch({ type: 'open', target: this });
      if (this.#closeWanted) this.#sendClose();
    });
    task.onMessage((res) => {
      if (this.readyState !== OPEN && this.readyState !== CLOSING) return;
      this.#dispatch({ type: 'message', target: this, data: res.data });
    });
    task.onError((res) => {
      if (this.readyState === CLOSED) return;
      this.#dispatch({ type: 'error', target: this, message: errorText(res) });
    });
    task.onClose((res) => {
      if (failed) return;
      failed = true;
      this.#ended(typeof res?.code === 'number' ? res.code : 1006, typeof res?.reason === 'string' ? res.reason : '', '');
    });
  }

  send(data: ArrayBuffer | ArrayBufferView | string): void {
    if (this.readyState === CONNECTING) throw new Error('InvalidStateError: WebSocket is still connecting');
    if (this.readyState !== OPEN || !this.#task) return; // as browsers do after close: dropped
    const payload = typeof data === 'string' ? data : toArrayBuffer(data);
    const n = typeof payload === 'string' ? payload.length : payload.byteLength;
    this.bufferedAmount += n;
    const settle = (): void => {
      this.bufferedAmount = Math.max(0, this.bufferedAmount - n);
    };
    this.#task.send({ data: payload, success: settle, fail: settle });
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new Error(`InvalidAccessError: close code ${code} is not 1000 or 3000–4999`);
    }
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    this.#closeWanted = { code: code ?? 1000, reason: reason ?? '' };
    if (!this.#task) {
      // Never connected (created while paused): closed at once.
      this.#ended(1006, 'closed before connecting', '');
      return;
    }
    if (this.readyState === OPEN) this.#sendClose();
    else this.readyState = CLOSING; // sent once open, see onOpen
  }

  #sendClose(): void {
    if (this.#closeSent || !this.#task || !this.#closeWanted) return;
    this.#closeSent = true;
    this.readyState = CLOSING;
    const { code, reason } = this.#closeWanted;
    this.#task.close({ code, reason, fail: () => this.#ended(1006, reason, 'SocketTask.close failed') });
  }

  #ended(code: number, reason: string, error: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#group.live.delete(this);
    this.bufferedAmount = 0;
    if (error) this.#dispatch({ type: 'error', target: this, message: error });
    this.#dispatch({ type: 'close', target: this, code, reason, wasClean: code !== 1006 });
  }

  addEventListener(type: string, listener: Listener): void {
    if (typeof listener !== 'function') return;
    const ls = this.#listeners.get(type) ?? [];
    if (!ls.includes(listener)) ls.push(listener);
    this.#listeners.set(type, ls);
  }

  removeEventListener(type: string, listener: Listener): void {
    const ls = this.#listeners.get(type);
    if (!ls) return;
    const i = ls.indexOf(listener);
    if (i >= 0) ls.splice(i, 1);
  }

  #dispatch(ev: SocketEvent): void {
    const prop = (this as unknown as Record<string, Listener | null>)['on' + ev.type];
    for (const l of [...(this.#listeners.get(ev.type) ?? []), ...(typeof prop === 'function' ? [prop] : [])]) {
      try {
        l.call(this, ev);
      } catch (e) {
        // A listener's exception must not stop the others (as in browsers).
        setTimeout(() => {
          throw e;
        }, 0);
      }
    }
  }
}

function toArrayBuffer(data: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (!ArrayBuffer.isView(data)) return data as ArrayBuffer;
  const { buffer, byteOffset, byteLength } = data;
  if (byteOffset === 0 && byteLength === buffer.byteLength) return buffer as ArrayBuffer;
  return (buffer as ArrayBuffer).slice(byteOffset, byteOffset + byteLength);
}
