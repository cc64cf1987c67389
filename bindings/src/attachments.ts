// Attachments: the file goes up to the relay's upload endpoint over HTTP
// while its message waits in the Go outbox; once the relay answered with
// the upload's id, the message goes out. The file is kept (IndexedDB, or
// memory) until the message is acknowledged, so an upload cut by a lost
// connection starts over, and one cut by a reload starts over after it.
import { Codes } from './codes.js';
import { ParleyError, invalid } from './errors.js';
import type { StoredMessage } from './bridge.gen.js';
import type { WasmClient } from './wasm.js';

/** The file of a message waiting for its upload, as kept across restarts. @internal */
export type PendingFile = Blob | Uint8Array;

/** Where files wait for their upload. @internal */
export interface FileStash {
  put(clientId: string, file: PendingFile): Promise<void>;
  get(clientId: string): Promise<PendingFile | undefined>;
  delete(clientId: string): Promise<void>;
}

/** memoryStash keeps files for the life of the page or process. @internal */
export function memoryStash(): FileStash {
  const files = new Map<string, PendingFile>();
  return {
    put: async (id, f) => void files.set(id, f),
    get: async (id) => files.get(id),
    delete: async (id) => void files.delete(id),
  };
}

type IDB = {
  open(name: string, version?: number): {
    result: IDBLike;
    error: unknown;
    onupgradeneeded: (() => void) | null;
    onsuccess: (() => void) | null;
    onerror: (() => void) | null;
  };
};
type IDBLike = {
  createObjectStore(name: string): unknown;
  objectStoreNames: { contains(n: string): boolean };
  transaction(s: string, mode: 'readonly' | 'readwrite'): {
    objectStore(s: string): { put(v: unknown, k: string): unknown; get(k: string): { result: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null }; delete(k: string): unknown };
    oncomplete: (() => void) | null;
    onerror: (() => void) | null;
    error: unknown;
  };
};

/**
 * indexedDBStash keeps files in the database `parley-uploads` (a Blob is
 * stored as is: IndexedDB holds Blobs without reading them into memory),
 * so an upload interrupted by a reload starts again after it. @internal
 */
export function indexedDBStash(factory: IDB): FileStash {
  let db: Promise<IDBLike> | null = null;
  const open = () =>
    (db ??= new Promise<IDBLike>((resolve, reject) => {
      const req = factory.open('parley-uploads', 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains('files')) req.result.createObjectStore('files');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }));
  const tx = async <T>(mode: 'readonly' | 'readwrite', f: (s: ReturnType<ReturnType<IDBLike['transaction']>['objectStore']>) => (() => T) | void): Promise<T | undefined> => {
    const d = await open();
    return new Promise<T | undefined>((resolve, reject) => {
      const t = d.transaction('files', mode);
      const get = f(t.objectStore('files'));
      t.oncomplete = () => resolve(get ? get() : undefined);
      t.onerror = () => reject(t.error);
    });
  };
  return {
    put: async (id, file) => void (await tx('readwrite', (s) => void s.put(file, id))),
    get: async (id) =>
      tx('readonly', (s) => {
        const r = s.get(id);
        return () => r.result as PendingFile | undefined;
      }),
    delete: async (id) => void (await tx('readwrite', (s) => void s.delete(id))),
  };
}

/** What send() takes for an attachment message. @internal */
export interface AttachmentDraft {
  type: 'image' | 'file' | 'audio' | 'video';
  file: PendingFile;
  name?: string;
  mime?: string;
  width?: number;
  height?: number;
  durationMs?: number;
  text?: string;
  clientId?: string;
}

type Progress = (sentBytes: number, totalBytes: number) => void;

/** Uploader runs the uploads of one client. @internal */
export class Uploader {
  readonly #running = new Map<string, AbortController>();

  constructor(
    private readonly wsUrl: string,
    private readonly uploadUrl: string | undefined,
    private readonly token: () => Promise<string>,
    private readonly stash: FileStash,
    private readonly log: (level: 'debug' | 'warn', message: string) => void,
  ) {}

  /** base is the relay's HTTP origin and path prefix for /v1/uploads. */
  get base(): string {
    if (this.uploadUrl) return this.uploadUrl.replace(/\/$/, '');
    const u = new URL(this.wsUrl);
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    u.pathname = u.pathname.replace(/\/v1\/ws\/?$/, '') + '/v1/uploads';
    u.search = '';
    return u.toString().replace(/\/$/, '');
  }

  /** send queues an attachment message, uploads its file and resolves once the relay acknowledged the message. */
  async send(wc: WasmClient, conv: string, d: AttachmentDraft, onProgress: Progress | undefined, signal?: AbortSignal): Promise<StoredMessage> {
    const file = d.file;
    const isBlob = typeof Blob !== 'undefined' && file instanceof Blob;
    if (!isBlob && !(file instanceof Uint8Array)) throw invalid('file must be a Blob or a Uint8Array');
    const size = isBlob ? (file as Blob).size : (file as Uint8Array).byteLength;
    const mime = (d.mime ?? (isBlob ? (file as Blob).type : '') ?? '').toLowerCase().split(';')[0]!.trim() || 'application/octet-stream';
    const name = d.name ?? (isBlob && typeof (file as File).name === 'string' && (file as File).name !== '' ? (file as File).name : 'file');
    const clientId = d.clientId ?? randomId();
    for (const k of ['width', 'height', 'durationMs'] as const) {
      const v = d[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) throw invalid(`${k} must be a non-negative integer`);
    }
    await this.stash.put(clientId, file);
    const acked = wc.sendAttachment(conv, d.type, d.text ?? '', clientId, name, size, mime, d.width ?? 0, d.height ?? 0, d.durationMs ?? 0, signal);
    this.start(wc, clientId, file, mime, onProgress);
    try {
      return await acked;
    } finally {
      // Acknowledged, failed for good, or aborted: the file is no longer needed.
      this.#running.get(clientId)?.abort();
      await this.stash.delete(clientId).catch(() => {});
    }
  }

  /** resume uploads the files of the outbox messages still waiting for theirs (after a restart or a resend). */
  async resume(wc: WasmClient): Promise<void> {
    let waiting: StoredMessage[];
    try {
      waiting = await wc.awaitingUpload();
    } catch {
      return;
    }
    for (const m of waiting) {
      if (this.#running.has(m.clientId) || !m.attachment) continue;
      const file = await this.stash.get(m.clientId).catch(() => undefined);
      if (!file) {
        await wc.uploadFailed(m.clientId, Codes.FileGone, 'the file of this message is no longer on this device').catch(() => {});
        continue;
      }
      this.start(wc, m.clientId, file, m.attachment.mime, undefined);
    }
  }

  /** stop ends every upload (the client is closing); the files stay for the next start. */
  stop(): void {
    for (const c of this.#running.values()) c.abort();
    this.#running.clear();
  }

  /** start runs the upload of clientId until it succeeds, fails for good, or is stopped. */
  start(wc: WasmClient, clientId: string, file: PendingFile, mime: string, onProgress: Progress | undefined): void {
    if (this.#running.has(clientId)) return;
    const ctl = new AbortController();
    this.#running.set(clientId, ctl);
    void this.#run(wc, clientId, file, mime, onProgress, ctl.signal).finally(() => {
      if (this.#running.get(clientId) === ctl) this.#running.delete(clientId);
    });
  }

  async #run(wc: WasmClient, clientId: string, file: PendingFile, mime: string, onProgress: Progress | undefined, signal: AbortSignal): Promise<void> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      let wait = Math.min(10000, 250 * 2 ** Math.min(attempt, 6));
      try {
        const token = await this.token();
        const r = await upload(this.base, token, file, mime, onProgress, signal);
        if (r.ok) {
          // The message may still be on its way into the outbox.
          for (let i = 0; ; i++) {
            try {
              await wc.attachmentUploaded(clientId, r.id, r.size, r.mime);
              return;
            } catch (e) {
              if (i >= 20 || signal.aborted) throw e;
              await sleep(25, signal);
            }
          }
        }
        if (!r.retry) {
          this.log('warn', `upload of ${clientId} refused: ${r.status} ${r.message}`);
          await wc.uploadFailed(clientId, r.code || Codes.UploadFailed, r.message || `upload refused (HTTP ${r.status})`);
          return;
        }
        if (r.retryAfterMs) wait = Math.max(wait, r.retryAfterMs);
        this.log('debug', `upload of ${clientId}: HTTP ${r.status}, retrying`);
      } catch (e) {
        if (signal.aborted) return;
        // The connection was cut (or the relay is down): start over.
        this.log('debug', `upload of ${clientId} cut (${String(e)}); starting over`);
      }
      await sleep(wait * (0.5 + Math.random() / 2), signal);
    }
  }

  /** download fetches an attachment's bytes, as a member of the message's conversation. */
  async download(message: { conversationId: string; attachment?: { id: string } }, signal?: AbortSignal): Promise<Uint8Array> {
    const id = message?.attachment?.id;
    if (typeof id !== 'string' || id === '') throw invalid('download() needs a message with an uploaded attachment');
    const res = await fetch(`${this.base}/${encodeURIComponent(id)}?conv=${encodeURIComponent(message.conversationId)}`, {
      headers: { Authorization: `Bearer ${await this.token()}` },
      signal,
    }).catch((e: unknown) => {
      throw new ParleyError(Codes.NotConnected, `download failed: ${String(e)}`, { cause: e });
    });
    if (!res.ok) {
      const j = (await res.json().catch(() => ({}))) as { code?: number; message?: string };
      throw new ParleyError(j.code ?? Codes.Forbidden, j.message ?? `download refused (HTTP ${res.status})`);
    }
    return new Uint8Array(await res.arrayBuffer());
  }
}

type UploadResult =
  | { ok: true; id: string; size: number; mime: string }
  | { ok: false; retry: boolean; status: number; code: number; message: string; retryAfterMs?: number };

const CHUNK = 64 * 1024;

/**
 * upload POSTs file once. Browsers use XMLHttpRequest, whose upload events
 * are the only progress a page gets over HTTP/1.1 (a fetch with a stream
 * body needs HTTP/2 in Chromium); elsewhere (Node) fetch streams the body
 * and progress counts the chunks handed to it.
 */
async function upload(base: string, token: string, file: PendingFile, mime: string, onProgress: Progress | undefined, signal: AbortSignal): Promise<UploadResult> {
  const total = file instanceof Uint8Array ? file.byteLength : file.size;
  const XHR = (globalThis as { XMLHttpRequest?: typeof XMLHttpRequest }).XMLHttpRequest;
  if (XHR) {
    return new Promise<UploadResult>((resolve, reject) => {
      const x = new XHR();
      x.open('POST', base);
      x.setRequestHeader('Authorization', `Bearer ${token}`);
      x.setRequestHeader('Content-Type', mime);
      if (onProgress) x.upload.onprogress = (e) => safe(onProgress, e.loaded, total);
      x.onload = () => resolve(result(x.status, x.responseText, x.getResponseHeader('Retry-After')));
      x.onerror = () => reject(new Error('network error'));
      x.onabort = () => reject(new Error('aborted'));
      signal.addEventListener('abort', () => x.abort(), { once: true });
      x.send(file as XMLHttpRequestBodyInit);
    });
  }
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (sent >= total) {
        ctl.close();
        return;
      }
      const end = Math.min(total, sent + CHUNK);
      const chunk = file instanceof Uint8Array ? file.slice(sent, end) : new Uint8Array(await file.slice(sent, end).arrayBuffer());
      sent = end;
      ctl.enqueue(chunk);
      if (onProgress) safe(onProgress, sent, total);
    },
  });
  const res = await fetch(base, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': mime, 'Upload-Length': String(total) },
    body,
    signal,
    duplex: 'half',
  } as RequestInit & { duplex: 'half' });
  return result(res.status, await res.text(), res.headers.get('Retry-After'));
}

function result(status: number, text: string, retryAfter: string | null): UploadResult {
  let j: { id?: string; size?: number; mime?: string; code?: number; message?: string } = {};
  try {
    j = JSON.parse(text) as typeof j;
  } catch {
    /* not JSON: a proxy's page */
  }
  if (status === 201 && typeof j.id === 'string') return { ok: true, id: j.id, size: j.size ?? 0, mime: j.mime ?? '' };
  // Retried: the relay busy or down, a limit with Retry-After, a token
  // that may be fresh on the next try, a body the network cut short.
  const retry = status === 0 || status >= 500 || status === 429 || status === 408 || (status === 400 && j.code === Codes.UploadIncomplete) || j.code === Codes.TokenExpired;
  const ra = retryAfter ? Number(retryAfter) * 1000 : undefined;
  return { ok: false, retry, status, code: j.code ?? 0, message: j.message ?? '', retryAfterMs: Number.isFinite(ra) ? ra : undefined };
}

function safe(f: Progress, a: number, b: number): void {
  try {
    f(a, b);
  } catch {
    /* a progress handler must not break the upload */
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

function randomId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
