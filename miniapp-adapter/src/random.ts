// crypto.getRandomValues for Go's runtime, which calls it synchronously,
// over wx.getRandomValues, which answers asynchronously: a pool filled
// before the module starts and refilled in the background whenever it falls
// below a low-water mark. A byte is handed out once and then zeroed. An
// empty pool is an error, never a weaker source: Go seeds its maps, its
// math/rand and the client's ids from these bytes.
import type { Wx } from './wx.js';
import { errorText } from './wx.js';

/** Options of {@link RandomPool}. */
export interface RandomPoolOptions {
  /** Bytes asked of wx.getRandomValues per fill. Defaults to 64 KiB (the call allows up to 1 MiB). */
  fill?: number;
  /** A fill starts when fewer bytes than this are left. Defaults to half of `fill`. */
  lowWater?: number;
}

/** A pool of bytes from wx.getRandomValues. */
export class RandomPool {
  #buf = new Uint8Array(0);
  #pos = 0;
  #filling: Promise<void> | null = null;
  #lastError = '';
  /** Bytes handed out so far. */
  served = 0;
  /** Fills done so far. */
  fills = 0;
  readonly #fill: number;
  readonly #low: number;

  constructor(
    private readonly wx: Wx,
    options: RandomPoolOptions = {},
  ) {
    this.#fill = Math.min(options.fill ?? 64 * 1024, 1048576);
    this.#low = options.lowWater ?? this.#fill >> 1;
  }

  /** Bytes left. */
  get available(): number {
    return this.#buf.length - this.#pos;
  }

  /** ready resolves once the pool holds at least the low-water mark. */
  async ready(): Promise<void> {
    while (this.available < this.#low) await this.refill();
  }

  /** refill asks wx.getRandomValues for a fill (one at a time) and appends it. */
  refill(): Promise<void> {
    if (this.#filling) return this.#filling;
    const p = new Promise<void>((resolve, reject) => {
      this.wx.getRandomValues({
        length: this.#fill,
        success: (res) => {
          const fresh = new Uint8Array(res.randomValues);
          const left = this.#buf.subarray(this.#pos);
          const next = new Uint8Array(left.length + fresh.length);
          next.set(left);
          next.set(fresh, left.length);
          this.#buf.fill(0);
          fresh.fill(0);
          this.#buf = next;
          this.#pos = 0;
          this.fills++;
          resolve();
        },
        fail: (err) => {
          this.#lastError = errorText(err);
          reject(new Error(`wx.getRandomValues failed: ${this.#lastError}`));
        },
      });
    });
    this.#filling = p;
    const done = (): void => {
      if (this.#filling === p) this.#filling = null;
    };
    p.then(done, done);
    return p;
  }

  /**
   * getRandomValues fills view with bytes from the pool, as
   * crypto.getRandomValues does (integer typed arrays, at most 65536
   * bytes), and starts a refill when the pool runs low. It throws when the
   * pool cannot serve the request.
   */
  getRandomValues<T extends ArrayBufferView | null>(view: T): T {
    const v = view as unknown as ArrayBufferView;
    if (!isIntegerView(v)) throw new TypeError('getRandomValues needs an integer typed array');
    const n = v.byteLength;
    if (n > 65536) throw new RangeError(`getRandomValues: ${n} bytes asked, at most 65536 at a time`);
    if (n > this.available) {
      this.#startRefill();
      throw new Error(
        `parley: the random pool is empty (${this.available} of ${n} bytes left): wx.getRandomValues has not refilled it yet` +
          (this.#lastError ? ` (last failure: ${this.#lastError})` : ''),
      );
    }
    const out = new Uint8Array(v.buffer, v.byteOffset, n);
    const src = this.#buf.subarray(this.#pos, this.#pos + n);
    out.set(src);
    src.fill(0);
    this.#pos += n;
    this.served += n;
    if (this.available < this.#low) this.#startRefill();
    return view;
  }

  #startRefill(): void {
    // A failed fill is retried on the next draw; the error is kept for the message above.
    this.refill().catch(() => {});
  }
}

function isIntegerView(v: unknown): v is ArrayBufferView {
  if (typeof v !== 'object' || v === null || !ArrayBuffer.isView(v) || v instanceof DataView) return false;
  const name = Object.prototype.toString.call(v).slice(8, -1);
  return /^(Ui|I)nt(8|16|32)Array$|^Uint8ClampedArray$|^Big(Ui|I)nt64Array$/.test(name);
}
