// Headless Chromium playing react-native-webview: the host page of the
// installed package, window.ReactNativeWebView.postMessage(string) injected
// before the page's scripts, and React Native's postMessage delivered as a
// `message` event on document (Android) or window (iOS). A page can be
// crashed (its renderer process killed) and a new one loaded in the same
// profile, as ParleyHost does when the OS kills the WebView's process.

/**
 * WebView is the React Native end of the transport (postMessage/onMessage)
 * over whichever page is current. via: 'document' | 'window' | 'bubbles'
 * (on document, bubbling to window as Android's fallback event does).
 */
export class WebView {
  constructor(context, url, { via = 'document' } = {}) {
    this.context = context;
    this.url = url;
    this.via = via;
    this.page = null;
    this.handlers = new Set();
    this.chain = Promise.resolve();
    /** Drop what the page posts (a bridge that went silent just before a crash). */
    this.silent = false;
    this.posted = 0;
  }

  static async install(context) {
    // The string only, asynchronous: a binding call returns a promise and is
    // delivered to Node in order.
    await context.addInitScript(() => {
      window.ReactNativeWebView = {
        postMessage(data) {
          if (typeof data !== 'string') throw new TypeError('ReactNativeWebView.postMessage takes a string');
          window.__rnPost(data);
        },
      };
    });
    const views = new Set();
    await context.exposeBinding('__rnPost', ({ page }, data) => {
      for (const v of views) v.fromPage(page, data);
    });
    return views;
  }

  postMessage(data) {
    if (typeof data !== 'string') throw new TypeError('WebView.postMessage takes a string');
    const page = this.page;
    this.posted++;
    this.chain = this.chain.then(async () => {
      if (!page || page.isClosed()) return; // posted to a WebView that is gone: lost
      try {
        await page.evaluate(([d, via]) => {
          const target = via === 'window' ? window : document;
          target.dispatchEvent(new MessageEvent('message', { data: d, bubbles: via === 'bubbles' }));
        }, [data, this.via]);
      } catch {
        /* the page crashed meanwhile: lost */
      }
    });
  }

  onMessage(handler) {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  fromPage(page, data) {
    if (page !== this.page || this.silent) return;
    setImmediate(() => {
      for (const h of [...this.handlers]) h(data);
    });
  }

  /** load opens a new page at the host URL (the first, or the one after a crash). */
  async load() {
    this.silent = false;
    this.page = await this.context.newPage();
    this.page.on('pageerror', (e) => this.errors.push(e.message));
    await this.page.goto(this.url);
    return this.page;
  }

  errors = [];

  /** crash kills the page's renderer process, as the OS kills a WebView's content process. */
  async crash() {
    const page = this.page;
    this.page = null;
    const crashed = new Promise((r) => page.once('crash', r));
    const cdp = await page.context().newCDPSession(page);
    cdp.send('Page.crash').catch(() => {}); // never answers: the renderer is gone
    await Promise.race([crashed, new Promise((r) => setTimeout(r, 5000))]);
    await page.close().catch(() => {});
  }

  diag() {
    return this.page.evaluate(() => JSON.parse(JSON.stringify(window.parleyHost)));
  }
}
