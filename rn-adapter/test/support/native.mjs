// react-native and react-native-webview as <ParleyHost /> uses them, for
// Node (React DOM renders the component; nothing native runs): View renders
// its children, StyleSheet.create returns its styles, AppState is active, and
// WebView is a component the test drives through the events
// react-native-webview documents (lib/WebViewTypes.d.ts) and sends as its
// native side does:
//   - a page that did not load (offline, DNS, TLS): onError, then onLoadEnd,
//     with { url, code, description, loading: false, … };
//   - a page answered with a status of 400 or more (main frame only):
//     onHttpError with { url, statusCode, description, … }; the body loads;
//   - the page's window.ReactNativeWebView.postMessage(string): onMessage
//     with { data };
//   - iOS: the content process terminated, onContentProcessDidTerminate;
//     Android: the renderer gone, onRenderProcessGone with { didCrash }.
// Events are wrapped as React Native's synthetic events are:
// { nativeEvent, persist(), isDefaultPrevented() }.
import React from 'react';

export const View = ({ children }) => React.createElement(React.Fragment, null, children);
export const StyleSheet = { create: (styles) => styles };
export const AppState = { currentState: 'active', addEventListener: () => ({ remove() {} }) };

/** Every WebView mounted, in order (`all`), and those mounted now (`live`). */
export const webviews = { all: [], live: new Set() };

let loads = 0;

export class WebView extends React.Component {
  /** What React Native posted to the page, in order. */
  posted = [];
  /** This WebView's load, counted over all of them (1 for the first). */
  load = 0;

  componentDidMount() {
    this.load = ++loads;
    webviews.all.push(this);
    webviews.live.add(this);
  }

  componentWillUnmount() {
    webviews.live.delete(this);
  }

  render() {
    return null;
  }

  /** The instance method ParleyHost calls through its ref. */
  postMessage(data) {
    if (typeof data !== 'string') throw new TypeError('WebView.postMessage takes a string');
    this.posted.push(data);
  }

  #url() {
    const s = this.props.source ?? {};
    return s.uri ?? s.baseUrl ?? 'about:blank';
  }

  #event(fields) {
    const nativeEvent = { url: this.#url(), loading: false, title: '', canGoBack: false, canGoForward: false, lockIdentifier: 0, ...fields };
    return { nativeEvent, persist() {}, isDefaultPrevented: () => false };
  }

  /** The page did not load (Android's net::ERR_INTERNET_DISCONNECTED by default). */
  failLoad(description = 'net::ERR_INTERNET_DISCONNECTED', code = -2) {
    const e = this.#event({ code, description });
    this.props.onError?.(e);
    this.props.onLoadEnd?.(e);
  }

  /** The server answered the page with statusCode; its body loads. */
  httpError(statusCode = 503, description = 'Service Unavailable') {
    this.props.onHttpError?.(this.#event({ statusCode, description }));
    const done = this.#event({ navigationType: 'other' });
    this.props.onLoad?.(done);
    this.props.onLoadEnd?.(done);
  }

  /** The page loaded and posts data (the host page says `ready` first). */
  pagePosts(data) {
    this.props.onMessage?.(this.#event({ data }));
  }

  /** iOS: the content process was terminated. */
  terminate() {
    this.props.onContentProcessDidTerminate?.(this.#event({}));
  }

  /** Android: the renderer process is gone. */
  rendererGone(didCrash = true) {
    this.props.onRenderProcessGone?.(this.#event({ didCrash }));
  }
}
