// Web APIs that mini-programs lack and that this package, @parley-im/sdk or
// Go's runtime (wasm_exec.js) need: TextEncoder/TextDecoder (UTF-8 only),
// atob/btoa, queueMicrotask and performance.now. Randomness is random.ts.
//
// installGlobals puts the first four on the global object only where the
// host has none, so nothing the app (or the host) defined is replaced.
// performance and crypto are given to Go's runtime alone (runtime.ts).

/** UTF-8 encoding of a string; lone surrogates become U+FFFD, as TextEncoder does. */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    } else {
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 63);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    }
  }
  return out.slice(0, n);
}

/**
 * utf8Decode decodes UTF-8 as the WHATWG decoder does: an invalid sequence
 * becomes one U+FFFD per maximal subpart, or throws a TypeError when fatal.
 */
export function utf8Decode(b: Uint8Array, fatal: boolean): string {
  const parts: string[] = [];
  let units: number[] = [];
  const bad = (): void => {
    if (fatal) throw new TypeError('The encoded data was not valid UTF-8');
    units.push(0xfffd);
  };
  let i = 0;
  // A BOM at the start is dropped, as TextDecoder does by default.
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      units.push(c);
      i++;
    } else {
      let need: number;
      let cp: number;
      let lo = 0x80;
      let hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
      } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
        if (c === 0xe0) lo = 0xa0;
        if (c === 0xed) hi = 0x9f;
      } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
        if (c === 0xf0) lo = 0x90;
        if (c === 0xf4) hi = 0x8f;
      } else {
        bad();
        i++;
        continue;
      }
      let j = i + 1;
      let ok = true;
      for (let k = 0; k < need; k++, j++) {
        const d = b[j];
        if (d === undefined || d < lo || d > hi) {
          ok = false;
          break;
        }
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (d & 0x3f);
      }
      if (!ok) {
        bad();
        i = j; // the maximal subpart ends before the offending byte
        continue;
      }
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        units.push(cp);
      }
      i = j;
    }
    if (units.length >= 8192) {
      parts.push(String.fromCharCode.apply(null, units));
      units = [];
    }
  }
  parts.push(String.fromCharCode.apply(null, units));
  return parts.join('');
}

function bytesOf(input: unknown): Uint8Array {
  if (input === undefined || input === null) return new Uint8Array(0);
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  // An ArrayBuffer of another realm (a host object) has a byteLength too.
  if (typeof (input as ArrayBuffer).byteLength === 'number') return new Uint8Array(input as ArrayBuffer);
  throw new TypeError('TextDecoder.decode needs an ArrayBuffer or an ArrayBufferView');
}

/** A UTF-8 TextEncoder. */
export class Utf8TextEncoder {
  get encoding(): string {
    return 'utf-8';
  }
  encode(input = ''): Uint8Array {
    return utf8Encode(String(input));
  }
  encodeInto(input: string, dest: Uint8Array): { read: number; written: number } {
    const b = utf8Encode(input);
    if (b.length <= dest.length) {
      dest.set(b);
      return { read: input.length, written: b.length };
    }
    // Encode what fits, whole characters only.
    let read = 0;
    let written = 0;
    for (const ch of input) {
      const e = utf8Encode(ch);
      if (written + e.length > dest.length) break;
      dest.set(e, written);
      written += e.length;
      read += ch.length;
    }
    return { read, written };
  }
}

/** A UTF-8 TextDecoder (no streaming: `{ stream: true }` throws). */
export class Utf8TextDecoder {
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  constructor(label = 'utf-8', options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const l = String(label).trim().toLowerCase();
    if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
      throw new RangeError(`TextDecoder: only UTF-8 is available here, not "${label}"`);
    }
    this.fatal = options.fatal === true;
    this.ignoreBOM = options.ignoreBOM === true;
  }
  get encoding(): string {
    return 'utf-8';
  }
  decode(input?: unknown, options?: { stream?: boolean }): string {
    if (options?.stream) throw new TypeError('TextDecoder: streaming is not available here');
    const b = bytesOf(input);
    if (this.ignoreBOM && b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) {
      return '\ufeff' + utf8Decode(b.subarray(3), this.fatal);
    }
    return utf8Decode(b, this.fatal);
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** atob: base64 to a binary string, as the browser's (whitespace ignored, padding optional). */
export function atobPolyfill(input: string): string {
  const s = String(input).replace(/[\t\n\f\r ]+/g, '');
  const t = s.length % 4 === 0 ? s.replace(/==?$/, '') : s;
  if (t.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(t)) throw new Error('atob: the string is not valid base64');
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < t.length; i++) {
    acc = (acc << 6) | B64.indexOf(t[i]!);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 0xff);
    }
  }
  return out;
}

/** btoa: a binary string to base64. */
export function btoaPolyfill(input: string): string {
  const s = String(input);
  let out = '';
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i);
    const b = i + 1 < s.length ? s.charCodeAt(i + 1) : -1;
    const c = i + 2 < s.length ? s.charCodeAt(i + 2) : -1;
    if (a > 255 || b > 255 || c > 255) throw new Error('btoa: the string has characters outside Latin-1');
    out += B64[a >> 2]! + B64[((a & 3) << 4) | (b < 0 ? 0 : b >> 4)]!;
    out += b < 0 ? '=' : B64[((b & 15) << 2) | (c < 0 ? 0 : c >> 6)]!;
    out += c < 0 ? '=' : B64[c & 63]!;
  }
  return out;
}

/** queueMicrotask over a resolved Promise; an exception thrown by f is rethrown from a timer, as hosts report it. */
export function queueMicrotaskPolyfill(f: () => void): void {
  Promise.resolve()
    .then(f)
    .catch((e: unknown) =>
      setTimeout(() => {
        throw e;
      }, 0),
    );
}

/**
 * monotonicPerformance returns a `performance` with a `now()` that never
 * goes back, built on Date.now (mini-programs have no performance object;
 * Go's runtime reads its monotonic clock from performance.now).
 */
export function monotonicPerformance(): { timeOrigin: number; now(): number } {
  const origin = Date.now();
  let last = 0;
  return {
    timeOrigin: origin,
    now() {
      const t = Date.now() - origin;
      if (t > last) last = t;
      return last;
    },
  };
}

/**
 * installGlobals defines TextEncoder, TextDecoder, atob, btoa and
 * queueMicrotask on target where it has none (never replacing one), and
 * returns the names it defined.
 */
export function installGlobals(target: object = globalThis): string[] {
  const want: Record<string, unknown> = {
    TextEncoder: Utf8TextEncoder,
    TextDecoder: Utf8TextDecoder,
    atob: atobPolyfill,
    btoa: btoaPolyfill,
    queueMicrotask: queueMicrotaskPolyfill,
  };
  const added: string[] = [];
  const t = target as Record<string, unknown>;
  for (const name of Object.keys(want)) {
    if (typeof t[name] !== 'undefined') continue;
    Object.defineProperty(target, name, { value: want[name], writable: true, configurable: true, enumerable: false });
    added.push(name);
  }
  return added;
}
