// Calls in the browser: the Go core carries the signaling (invite, ring,
// answer, SDP and ICE candidates through the relay) and this file drives the
// browser's own RTCPeerConnection with it, one per other participant (a
// full mesh of at most four). The WebRTC stack is the browser's, so
// parley.wasm carries none of it.
import { Codes } from './codes.js';
import { ParleyError, invalid, toParleyError } from './errors.js';
import type { BridgeCall, BridgeCallEvent, BridgeCallSignal } from './bridge.gen.js';
import type { Call, CallEndReason, CallEvents, CallMedia, CallOptions, CallState } from './types.js';
import type { WasmClient } from './wasm.js';

type Handler = (payload: never) => void;

/** What a CallImpl needs of its client. @internal */
export interface CallHost {
  wc(): WasmClient;
  log(level: 'debug' | 'warn' | 'error', message: string): void;
  /** Hands an incoming call to the application's 'call' handlers. */
  incoming(call: Call): void;
}

/** The host's WebRTC: RTCPeerConnection and getUserMedia, or null where there is none (mini-programs, Node). @internal */
export function webrtcAvailable(): boolean {
  return typeof globalThis.RTCPeerConnection === 'function' && typeof globalThis.navigator?.mediaDevices?.getUserMedia === 'function';
}

/** ended is the error of accept() on a call that is over: what the relay answers for a call it no longer has. */
function ended(): ParleyError {
  return new ParleyError(Codes.CallNotFound, 'the call has ended');
}

function unsupported(): ParleyError {
  return new ParleyError(Codes.CallUnsupported, 'calls need WebRTC (RTCPeerConnection and getUserMedia), which this platform does not have');
}

async function openMedia(media: CallMedia): Promise<MediaStream> {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: media.audio, video: media.video });
  } catch (e) {
    throw new ParleyError(Codes.CallMedia, `the ${media.video ? 'camera or microphone' : 'microphone'} could not be opened: ${String(e)}`);
  }
}

function media(options: CallOptions | undefined, fallback: CallMedia): CallMedia {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalid('call options must be an object');
  const audio = options?.audio ?? fallback.audio;
  const video = options?.video ?? fallback.video;
  if (typeof audio !== 'boolean' || typeof video !== 'boolean') throw invalid('audio and video must be booleans');
  if (!audio && !video) throw invalid('a call needs audio or video');
  return { audio, video };
}

interface PeerLink {
  pc: RTCPeerConnection;
  pending: RTCIceCandidateInit[];
  streams: MediaStream[];
}

type CallInput = BridgeCallEvent | BridgeCallSignal;

/** The calls of one client. @internal */
export class Calls {
  readonly #live = new Map<string, CallImpl>();
  // placeCall and acceptCall requests in flight, and the events held
  // meanwhile for calls this device is not in yet, by call id (holdEvent).
  #joining = 0;
  readonly #held = new Map<string, CallInput[]>();

  constructor(private readonly host: CallHost) {}

  async place(conversationId: string, options: CallOptions | undefined): Promise<Call> {
    if (typeof conversationId !== 'string' || conversationId === '') throw invalid('call() needs a conversation id or a user id');
    const m = media(options, { audio: true, video: false });
    if (!webrtcAvailable()) throw unsupported();
    const stream = await openMedia(m);
    let info: BridgeCall;
    this.beginJoin();
    try {
      info = await this.host.wc().placeCall(conversationId, m.audio, m.video);
    } catch (e) {
      this.endJoin(undefined, false);
      stream.getTracks().forEach((t) => t.stop());
      throw toParleyError(e);
    }
    const call = new CallImpl(this.host, info, this);
    call.localStreamSet(stream);
    this.#live.set(info.id, call);
    this.endJoin(info.id, true);
    return call;
  }

  /** forget drops a call that ended. */
  forget(id: string): void {
    this.#live.delete(id);
  }

  /**
   * beginJoin starts holding events (holdEvent): placeCall and acceptCall
   * call it before their request leaves, so it comes before every event
   * the request causes.
   */
  beginJoin(): void {
    this.#joining++;
  }

  /**
   * endJoin ends one request's holding, once its answer was handled: when
   * the request joined call id, the events held for it are handled, in
   * the order they came; the others are dropped once no request is in
   * flight.
   */
  endJoin(id: string | undefined, joined: boolean): void {
    this.#joining--;
    const held = id === undefined ? undefined : this.#held.get(id);
    if (id !== undefined) this.#held.delete(id);
    if (this.#joining === 0) this.#held.clear();
    if (joined) for (const e of held ?? []) this.#route(e);
  }

  /** call handles a call event of the core. */
  call(e: BridgeCallEvent): void {
    if (e.change === 'ring') {
      if (this.#live.has(e.call.id)) return;
      const call = new CallImpl(this.host, e.call, this);
      this.#live.set(e.call.id, call);
      this.host.incoming(call);
      return;
    }
    this.#route(e);
  }

  /** signal handles an SDP or candidate from a peer. */
  signal(s: BridgeCallSignal): void {
    this.#route(s);
  }

  #route(e: CallInput): void {
    const id = 'callId' in e ? e.callId : e.call.id;
    const call = this.#live.get(id);
    // The end of a call that rings here ends it, answered or not.
    if (!call || (!call.inCall() && !('change' in e && e.change === 'ended'))) {
      this.#holdEvent(id, e);
      return;
    }
    if ('callId' in e) void call.remoteSignal(e);
    else call.event(e);
  }

  /**
   * holdEvent keeps e, an event of call id that needs this device in the
   * call, while a placeCall or acceptCall is in flight; endJoin hands it
   * on once the request joined the call. The bridge settles a request's
   * promise and hands out the events after it in one turn, so the code
   * awaiting the answer runs after them: the join of a callee who answered
   * at once can come before placeCall resolved, the caller's offer (and
   * candidates) before acceptCall did, and a call nobody could be rung for
   * ends before placeCall resolved. With no request in flight the event
   * is of a call this device takes no part in, and is dropped.
   */
  #holdEvent(id: string, e: CallInput): void {
    if (this.#joining === 0) return;
    const q = this.#held.get(id) ?? [];
    if (q.length < 256) q.push(e);
    this.#held.set(id, q);
    if (this.#held.size > 16) this.#held.delete(this.#held.keys().next().value as string);
  }

  /** closeAll ends the media of every call (the client closes). */
  closeAll(): void {
    for (const c of this.#live.values()) c.finish('failed');
    this.#live.clear();
    this.#held.clear();
  }
}

/** CallImpl is one call: its state, its peer connections and its streams. @internal */
class CallImpl implements Call {
  readonly id: string;
  readonly conversationId: string;
  readonly direction: 'outgoing' | 'incoming';
  readonly peers: string[];
  readonly media: CallMedia;
  state: CallState;
  localStream?: MediaStream;
  remoteStreams: MediaStream[] = [];
  endReason?: CallEndReason;
  readonly #handlers = new Map<keyof CallEvents, Set<Handler>>();
  readonly #links = new Map<string, PeerLink>();
  #ice: RTCIceServer[] = [];
  #joined = false; // this device takes part: placed, or accepted

  constructor(
    private readonly host: CallHost,
    info: BridgeCall,
    private readonly calls: Calls,
  ) {
    this.id = info.id;
    this.conversationId = info.conversationId;
    this.direction = info.direction === 'outgoing' ? 'outgoing' : 'incoming';
    this.peers = info.peers ?? [];
    this.media = { audio: info.audio, video: info.video };
    this.state = 'ringing';
    this.#setIce(info);
    if (this.direction === 'outgoing') this.#joined = true;
  }

  #setIce(info: BridgeCall): void {
    if (info.iceServers) this.#ice = info.iceServers.map((s) => ({ urls: s.urls ?? [], username: s.username, credential: s.credential }));
  }

  /** inCall reports whether this device takes part in the call: it placed it, or accepted it. */
  inCall(): boolean {
    return this.#joined;
  }

  localStreamSet(s: MediaStream): void {
    this.localStream = s;
  }

  on<K extends keyof CallEvents>(event: K, handler: (payload: CallEvents[K]) => void): () => void {
    if (event !== 'state' && event !== 'remoteStream' && event !== 'ended') throw invalid(`call.on(): ${JSON.stringify(event)} is not a call event; events: state, remoteStream, ended`);
    if (typeof handler !== 'function') throw invalid('call.on() needs a handler function');
    let hs = this.#handlers.get(event);
    if (!hs) this.#handlers.set(event, (hs = new Set()));
    const h = handler as Handler;
    hs.add(h);
    // A call can end before the application holds it (call() returns a
    // call that ended while it was placed) or before it subscribes: its
    // end still reaches a handler added later, once, after on() returned.
    const reason = this.endReason;
    if (event === 'ended' && reason !== undefined) {
      queueMicrotask(() => {
        if (hs.has(h)) this.#call('ended', h, { reason });
      });
    }
    return () => hs.delete(h);
  }

  #call<K extends keyof CallEvents>(event: K, h: Handler, payload: CallEvents[K]): void {
    try {
      (h as (p: CallEvents[K]) => void)(payload);
    } catch (err) {
      this.host.log('error', `a call "${event}" handler threw: ${String(err)}`);
    }
  }

  #emit<K extends keyof CallEvents>(event: K, payload: CallEvents[K]): void {
    for (const h of [...(this.#handlers.get(event) ?? [])]) this.#call(event, h, payload);
  }

  #setState(s: CallState): void {
    if (this.state === s || this.state === 'ended') return;
    this.state = s;
    this.#emit('state', s);
  }

  async accept(options?: CallOptions): Promise<void> {
    if (this.state === 'ended') throw ended();
    if (this.direction !== 'incoming' || this.state !== 'ringing') throw new ParleyError(Codes.CallState, 'this call does not ring here');
    const m = media(options, this.media);
    if (!webrtcAvailable()) throw unsupported();
    const stream = await openMedia(m);
    if (this.endReason !== undefined) {
      // Ended while the devices opened (the caller gave up, another device answered).
      stream.getTracks().forEach((t) => t.stop());
      throw ended();
    }
    this.localStream = stream;
    let info: BridgeCall;
    this.calls.beginJoin();
    try {
      info = await this.host.wc().acceptCall(this.id, m.audio, m.video);
    } catch (e) {
      this.calls.endJoin(this.id, false);
      stream.getTracks().forEach((t) => t.stop());
      this.localStream = undefined;
      throw toParleyError(e); // 4260 when the relay no longer had the call
    }
    if (this.endReason !== undefined) {
      // The relay let this device in, and the call ended before the answer
      // was handled here (the caller hung up at once): there is no call to
      // be in. finish() closed the media.
      this.calls.endJoin(this.id, false);
      throw ended();
    }
    this.#setIce(info);
    this.#joined = true;
    this.#setState('connecting');
    this.calls.endJoin(this.id, true);
  }

  reject(): Promise<void> {
    return this.hangup();
  }

  async hangup(): Promise<void> {
    if (this.state === 'ended') return;
    try {
      await this.host.wc().endCall(this.id);
    } catch (e) {
      const err = toParleyError(e);
      if (err.code !== Codes.CallNotFound) throw err;
      this.finish('hangup'); // the relay no longer knows it: over anyway
    }
  }

  setMicrophoneEnabled(on: boolean): void {
    for (const t of this.localStream?.getAudioTracks() ?? []) t.enabled = on;
  }

  async setCameraEnabled(on: boolean): Promise<void> {
    const tracks = this.localStream?.getVideoTracks() ?? [];
    if (tracks.length > 0 || !on) {
      for (const t of tracks) t.enabled = on;
      return;
    }
    if (this.state === 'ended') return;
    // Turning the camera on in an audio call: a new track, offered again
    // to every peer (renegotiation).
    const s = await openMedia({ audio: false, video: true });
    const track = s.getVideoTracks()[0];
    if (!track) return;
    if (!this.localStream) this.localStream = new MediaStream();
    this.localStream.addTrack(track);
    for (const [peer, link] of this.#links) {
      link.pc.addTrack(track, this.localStream);
      await this.#offer(peer, link);
    }
  }

  /** event handles a change the relay reported. */
  event(e: BridgeCallEvent): void {
    switch (e.change) {
      case 'joined':
        if (!this.#joined || !e.peer) return;
        this.#setState('connecting');
        void this.#offer(e.peer, this.#link(e.peer)).catch((err) => this.host.log('warn', `call ${this.id}: offer to ${e.peer}: ${String(err)}`));
        return;
      case 'left':
        if (e.peer) this.#drop(e.peer);
        return;
      case 'ended':
        this.finish((e.call.reason ?? 'hangup') as CallEndReason);
        return;
    }
  }

  #link(peer: string): PeerLink {
    let link = this.#links.get(peer);
    if (link) return link;
    const pc = new RTCPeerConnection({ iceServers: this.#ice });
    link = { pc, pending: [], streams: [] };
    this.#links.set(peer, link);
    const l = link;
    for (const t of this.localStream?.getTracks() ?? []) pc.addTrack(t, this.localStream as MediaStream);
    if (!this.localStream || this.localStream.getTracks().length === 0) {
      if (this.media.audio) pc.addTransceiver('audio', { direction: 'recvonly' });
      if (this.media.video) pc.addTransceiver('video', { direction: 'recvonly' });
    }
    pc.onicecandidate = (ev) => {
      if (!ev.candidate) return;
      this.host
        .wc()
        .signalCall(this.id, peer, 'candidate', JSON.stringify(ev.candidate.toJSON()))
        .catch((err: unknown) => this.host.log('debug', `call ${this.id}: candidate to ${peer}: ${String(err)}`));
    };
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] ?? new MediaStream([ev.track]);
      if (this.remoteStreams.includes(stream)) return;
      this.remoteStreams.push(stream);
      l.streams.push(stream);
      this.#emit('remoteStream', stream);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && this.state === 'connecting') {
        try {
          this.host.wc().callConnected(this.id);
        } catch {
          /* closed meanwhile */
        }
        this.#setState('connected');
      }
    };
    return link;
  }

  async #offer(peer: string, link: PeerLink): Promise<void> {
    const offer = await link.pc.createOffer();
    await link.pc.setLocalDescription(offer);
    await this.host.wc().signalCall(this.id, peer, 'offer', offer.sdp ?? '');
  }

  /** remoteSignal applies an SDP or candidate from a peer. */
  async remoteSignal(s: BridgeCallSignal): Promise<void> {
    if (!this.#joined || this.state === 'ended') return;
    const link = this.#link(s.peer);
    try {
      switch (s.kind) {
        case 'offer': {
          await link.pc.setRemoteDescription({ type: 'offer', sdp: s.data });
          await this.#flush(link);
          const answer = await link.pc.createAnswer();
          await link.pc.setLocalDescription(answer);
          await this.host.wc().signalCall(this.id, s.peer, 'answer', answer.sdp ?? '');
          break;
        }
        case 'answer':
          await link.pc.setRemoteDescription({ type: 'answer', sdp: s.data });
          await this.#flush(link);
          break;
        case 'candidate': {
          const cand = JSON.parse(s.data) as RTCIceCandidateInit;
          if (link.pc.remoteDescription) await link.pc.addIceCandidate(cand);
          else link.pending.push(cand);
          break;
        }
      }
    } catch (err) {
      this.host.log('warn', `call ${this.id}: ${s.kind} from ${s.peer}: ${String(err)}`);
    }
  }

  async #flush(link: PeerLink): Promise<void> {
    const pending = link.pending;
    link.pending = [];
    for (const c of pending) await link.pc.addIceCandidate(c);
  }

  #drop(peer: string): void {
    const link = this.#links.get(peer);
    if (!link) return;
    link.pc.close();
    this.#links.delete(peer);
    this.remoteStreams = this.remoteStreams.filter((s) => !link.streams.includes(s));
  }

  /** finish ends the call here: media closed, 'state' and 'ended' emitted once. */
  finish(reason: CallEndReason): void {
    if (this.endReason) return;
    this.endReason = reason;
    for (const peer of [...this.#links.keys()]) this.#drop(peer);
    for (const t of this.localStream?.getTracks() ?? []) t.stop();
    this.calls.forget(this.id);
    this.#setState('ended');
    this.#emit('ended', { reason });
  }
}
