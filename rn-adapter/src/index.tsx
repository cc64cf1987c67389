/**
 * `@parley-im/react-native`: the Parley client in React Native apps. React
 * Native's JavaScript engines (Hermes, JavaScriptCore on iOS) have no
 * WebAssembly, so the client runs in a hidden WebView that hosts the
 * browser build of `@parley-im/sdk`; this package forwards the same
 * `ParleyClient` API to it.
 *
 * ```tsx
 * import { ParleyHost, createClient } from '@parley-im/react-native';
 *
 * // once, near the root of the app; the page ships inside the app and starts offline
 * import { hostHtml } from '@parley-im/react-native/inline-host';
 * <ParleyHost source={{ html: hostHtml, baseUrl: 'https://parley-host.localhost/' }} />
 *
 * const client = await createClient({ url: 'wss://chat.example.com/v1/ws', token });
 * client.on('message', (m) => console.log(m.sender, m.text));
 * await client.connect();
 * ```
 * @packageDocumentation
 */
import { useEffect, useRef, useState, type ReactElement } from 'react';
import { AppState, StyleSheet, View, type StyleProp, type ViewStyle } from 'react-native';
import { WebView, type WebViewProps } from 'react-native-webview';
import type { ParleyClient } from '@parley-im/sdk';
import { createClient as bridgeClient, type BridgeClientOptions, type Transport } from './bridge.js';

export type { AppStateLike, BridgeClientOptions, BridgeEnv, Transport } from './bridge.js';
export { ParleyError, Codes } from '@parley-im/sdk/errors';

/** Props of {@link ParleyHost}. */
export interface ParleyHostProps {
  /**
   * The host page. Either the single-file page inside the app, which starts
   * offline: `{ html: hostHtml, baseUrl: 'https://parley-host.localhost/' }`
   * with `hostHtml` from `@parley-im/react-native/inline-host`; or the
   * `host/` folder of this package served over HTTP(S), e.g.
   * `{ uri: 'https://chat.example.com/parley-host/index.html' }`.
   * Keep the origin (baseUrl's, or the URL's) the same from one release to
   * the next: the page's IndexedDB cache (history and outbox) belongs to it.
   */
  source: { uri: string; headers?: Record<string, string> } | { html: string; baseUrl: string };
  /**
   * Extra props for the WebView (e.g. `mediaCapturePermissionGrantType`,
   * which defaults to `'grantIfSameHostElsePrompt'`). Those the host needs
   * (`source`, `onMessage`, the crash handlers) cannot be replaced.
   */
  webViewProps?: Omit<WebViewProps, 'source' | 'onMessage' | 'onContentProcessDidTerminate' | 'onRenderProcessGone'>;
  /** Style of the (invisible, 1×1) container; with `callVisible`, of the call screen. */
  style?: StyleProp<ViewStyle>;
  /**
   * Shows the WebView, which is the call screen while a call lasts: the
   * host page plays the call's media there (the peers' video, this
   * device's camera in a corner). Set it while the app has a call that is
   * not ended (`call.on('state')`, `call.on('ended')`); the WebView fills
   * its parent and takes touches. Defaults to false: hidden, 1×1.
   */
  callVisible?: boolean;
  /** Told when the WebView's content process died or the page failed to load; the host recovers by itself. */
  onHostError?: (reason: string) => void;
}

/** The one transport of the app: ParleyHost's WebView, whichever instance is mounted now. */
class WebViewTransport implements Transport {
  #post: ((data: string) => void) | null = null;
  readonly #handlers = new Set<(data: string) => void>();

  postMessage(data: string): void {
    // Nothing mounted (yet, or between two WebViews): the string is lost,
    // as it would be in a page that died; the bridge settles the calls
    // when the next page says it is ready.
    this.#post?.(data);
  }

  onMessage(handler: (data: string) => void): () => void {
    this.#handlers.add(handler);
    return () => {
      this.#handlers.delete(handler);
    };
  }

  attach(post: ((data: string) => void) | null): void {
    this.#post = post;
  }

  deliver(data: string): void {
    for (const h of [...this.#handlers]) h(data);
  }
}

const transport = new WebViewTransport();
let mounted = 0;

/** Remounts wait 1 s, doubling with each failure up to this. */
const maxWaitMs = 32_000;
/**
 * A page that talked and then stayed up this long, with no failure, starts
 * the schedule over. Talking alone is not enough: a page that answers with
 * an HTTP error, or whose process dies soon after it loads, talks on every
 * load, and would otherwise be remounted as fast as it loads.
 */
const steadyMs = maxWaitMs;

/**
 * ParleyHost hosts the client: a hidden WebView running the host page.
 * Mount it once, near the root, for the life of the app. When the page does
 * not load, or the OS kills the WebView's content process, it mounts a new
 * WebView, backing off while that keeps happening; the clients reopen in
 * the new page from its IndexedDB cache, reconnect and resync, and calls in
 * flight are settled.
 */
export function ParleyHost(props: ParleyHostProps): ReactElement {
  const ref = useRef<WebView>(null);
  const [generation, setGeneration] = useState(0);
  // The schedule: failures since it last started over, and whether a lost
  // process has had its remount at once in that time.
  const failures = useRef(0);
  const crashed = useRef(false);
  // The WebView mounted now (or about to be): whether it failed, and
  // whether its page has talked.
  const view = useRef({ generation: 0, failed: false, talked: false });
  // The remount waiting (out a backoff, or for the next turn): one at a time.
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // The page that talked, waiting to have stayed up for steadyMs.
  const steady = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    mounted++;
    if (mounted > 1) console.warn('[parley] more than one <ParleyHost /> is mounted: keep one, near the root of the app');
    transport.attach((data) => ref.current?.postMessage(data));
    return () => {
      mounted--;
      transport.attach(null);
      clearTimeout(pending.current);
      clearTimeout(steady.current);
    };
  }, []);

  // An event of a WebView already replaced (one can come between the
  // remount and React unmounting it) changes nothing.
  const replaced = () => view.current.generation !== generation;
  const restart = (reason: string, delayMs: number) => {
    if (replaced()) return;
    props.onHostError?.(reason);
    view.current.failed = true;
    clearTimeout(steady.current);
    // A WebView whose renderer is gone must not be reused (Android): mount a
    // new one. It replaces the remount waiting, if any: a process lost while
    // a failed load waits out its backoff remounts once, and the backoff's
    // timer would otherwise replace the page loading after it.
    clearTimeout(pending.current);
    pending.current = setTimeout(() => {
      pending.current = undefined;
      const next = view.current.generation + 1;
      view.current = { generation: next, failed: false, talked: false };
      setGeneration(next);
    }, delayMs);
  };
  const backoff = () => Math.min(1000 * 2 ** failures.current++, maxWaitMs);
  // The page did not load (offline, server down, an HTTP error): try again
  // after the backoff.
  const retry = (reason: string) => {
    if (!replaced()) restart(reason, backoff());
  };
  // The content process is gone: the first time since the schedule started
  // over, remount at once (the OS reclaims the memory of apps in the
  // background); after that, after the backoff, so that a page that kills
  // its process on every load is not remounted in a tight loop.
  const lost = (reason: string) => {
    if (replaced()) return;
    const delayMs = crashed.current ? backoff() : 0;
    crashed.current = true;
    restart(reason, delayMs);
  };
  const talked = () => {
    const v = view.current;
    // The first message of a WebView that has not failed: one that failed
    // is being replaced (an HTTP error whose body is the host page talks
    // all the same), so it cannot stay up.
    if (replaced() || v.failed || v.talked) return;
    v.talked = true;
    steady.current = setTimeout(() => {
      steady.current = undefined;
      failures.current = 0;
      crashed.current = false;
    }, steadyMs);
  };

  return (
    <View style={[props.callVisible ? styles.call : styles.hidden, props.style]} pointerEvents={props.callVisible ? 'auto' : 'none'}>
      <WebView
        key={generation}
        {...defaults}
        {...props.webViewProps}
        // A page given as a string: react-native-webview's guide asks for
        // ['*'] (its navigation is not to an http(s) URL).
        {...('html' in props.source ? { originWhitelist: ['*'] } : {})}
        ref={ref}
        source={props.source}
        onMessage={(e) => {
          talked();
          transport.deliver(e.nativeEvent.data);
        }}
        onContentProcessDidTerminate={() => lost('the WebView content process terminated')}
        onRenderProcessGone={(e) => lost(e.nativeEvent.didCrash ? 'the WebView renderer crashed' : 'the WebView renderer was killed')}
        onError={(e) => retry(`the host page did not load: ${e.nativeEvent.description}`)}
        onHttpError={(e) => retry(`the host page answered HTTP ${e.nativeEvent.statusCode}`)}
      />
    </View>
  );
}

const defaults: Partial<WebViewProps> = {
  javaScriptEnabled: true,
  domStorageEnabled: true, // Android: localStorage (the device id) and IndexedDB
  incognito: false, // the cache must survive
  cacheEnabled: true,
  originWhitelist: ['https://*', 'http://*'],
  // Calls (WebRTC) play audio and video inline without a tap, and the page
  // (of the app's own origin) opens the camera and microphone without a
  // second prompt after the app's (iOS 15+).
  mediaPlaybackRequiresUserAction: false,
  allowsInlineMediaPlayback: true,
  mediaCapturePermissionGrantType: 'grantIfSameHostElsePrompt',
};

const styles = StyleSheet.create({
  hidden: { position: 'absolute', width: 1, height: 1, opacity: 0, overflow: 'hidden', left: 0, top: 0 },
  call: { position: 'absolute', left: 0, top: 0, right: 0, bottom: 0, backgroundColor: '#000' },
});

/**
 * createClient opens a client in the mounted {@link ParleyHost} and returns
 * it with the `ParleyClient` type of `@parley-im/sdk`. The options are the
 * SDK's, less the host primitives (see {@link BridgeClientOptions}). The
 * clients pause when the app goes to the background and resume when it is
 * active again. Rejects with a ParleyError 4902 when no host answers within
 * 30 s.
 */
export function createClient(options: BridgeClientOptions): Promise<ParleyClient> {
  return bridgeClient(options, { transport, appState: AppState });
}
