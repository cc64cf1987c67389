// The part of WeChat's mini-program API this package uses, typed by hand
// (WeChat's own typings are a large dev dependency of their own). Names and
// shapes follow WeChat's API reference: wx.connectSocket / SocketTask,
// wx.getFileSystemManager / FileSystemManager, wx.setStorage, wx.getStorage,
// wx.getRandomValues, wx.onAppHide, wx.onAppShow, WXWebAssembly.

/** What a failed wx call passes to `fail`. */
export interface WxError {
  errMsg: string;
  /** Newer base libraries: the error number (e.g. 1300202 when the user files are full). */
  errno?: number;
  errCode?: number;
}

/** The callbacks every asynchronous wx call takes. */
export interface WxCallbacks<T> {
  success?(res: T): void;
  fail?(err: WxError): void;
  complete?(res: T | WxError): void;
}

/** A WebSocket connection (wx.connectSocket). */
export interface SocketTask {
  send(o: { data: string | ArrayBuffer } & WxCallbacks<{ errMsg: string }>): void;
  close(o: { code?: number; reason?: string } & WxCallbacks<{ errMsg: string }>): void;
  onOpen(listener: (res: { header?: Record<string, string> }) => void): void;
  onClose(listener: (res: { code: number; reason: string }) => void): void;
  onError(listener: (res: { errMsg: string }) => void): void;
  onMessage(listener: (res: { data: string | ArrayBuffer }) => void): void;
}

/** Stats of FileSystemManager.stat on a file. */
export interface WxStats {
  size: number;
  lastModifiedTime: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

/** The file system of user files (wx.getFileSystemManager()). */
export interface FileSystemManager {
  readFile(o: { filePath: string; encoding?: 'utf8' } & WxCallbacks<{ data: string | ArrayBuffer }>): void;
  writeFile(o: { filePath: string; data: string | ArrayBuffer; encoding?: 'utf8' } & WxCallbacks<{ errMsg: string }>): void;
  unlink(o: { filePath: string } & WxCallbacks<{ errMsg: string }>): void;
  mkdir(o: { dirPath: string; recursive?: boolean } & WxCallbacks<{ errMsg: string }>): void;
  readdir(o: { dirPath: string } & WxCallbacks<{ files: string[] }>): void;
  stat(o: { path: string } & WxCallbacks<{ stats: WxStats }>): void;
}

/** The `wx` object of a mini-program, as far as this package uses it. */
export interface Wx {
  env: { USER_DATA_PATH: string };
  connectSocket(o: { url: string; protocols?: string[]; tcpNoDelay?: boolean } & WxCallbacks<{ errMsg: string }>): SocketTask;
  getRandomValues(o: { length: number } & WxCallbacks<{ randomValues: ArrayBuffer }>): void;
  setStorage(o: { key: string; data: unknown } & WxCallbacks<{ errMsg: string }>): void;
  getStorage(o: { key: string } & WxCallbacks<{ data: unknown }>): void;
  removeStorage(o: { key: string } & WxCallbacks<{ errMsg: string }>): void;
  getFileSystemManager(): FileSystemManager;
  onAppHide(listener: () => void): void;
  offAppHide?(listener: () => void): void;
  onAppShow(listener: (res?: unknown) => void): void;
  offAppShow?(listener: (res?: unknown) => void): void;
}

/** The WXWebAssembly global (base library 2.13.0+; `.wasm.br` paths since 2.14.0). */
export interface WXWebAssemblyLike {
  instantiate(path: string, imports: object): Promise<object>;
}

/** call turns a callback-style wx call into a Promise that rejects with the WxError. */
export function call<T>(f: (cb: WxCallbacks<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    f({ success: resolve, fail: reject });
  });
}

/** errorText renders whatever a wx call failed with. */
export function errorText(e: unknown): string {
  if (typeof e === 'object' && e !== null && typeof (e as WxError).errMsg === 'string') return (e as WxError).errMsg;
  return e instanceof Error ? e.message : String(e);
}

/** errorNumber returns the errno (or errCode) of a wx failure, when it has one. */
export function errorNumber(e: unknown): number | undefined {
  const w = e as WxError | null;
  if (typeof w !== 'object' || w === null) return undefined;
  if (typeof w.errno === 'number') return w.errno;
  if (typeof w.errCode === 'number') return w.errCode;
  return undefined;
}
