// Calls in the demo: the call buttons of a conversation's header, the
// incoming-call dialog, and the call view (remote videos, local preview,
// microphone, camera, hang up). The SDK does the WebRTC; this is only UI.
import type { Call, CallEndReason, CallRecord, ParleyClient } from '@parley-im/sdk';
import { h } from './dom';
import { svgIcon } from './icons';

const REASONS: Record<CallEndReason, string> = {
  hangup: 'Call ended',
  rejected: 'Call declined',
  cancelled: 'Call cancelled',
  busy: 'Busy',
  timeout: 'No answer',
  answeredElsewhere: 'Answered on another device',
  failed: 'Connection lost',
  unavailable: 'Unavailable',
};

/** callRecordText is how a call record message reads in the thread. */
export function callRecordText(body: unknown): string {
  const r = body as Partial<CallRecord> | null;
  const kind = r?.media === 'video' ? 'Video call' : 'Voice call';
  if (r?.outcome === 'completed') {
    const s = Math.round((r.durationMs ?? 0) / 1000);
    return `${kind} · ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }
  const why = r?.outcome && r.outcome in REASONS ? REASONS[r.outcome as CallEndReason] : 'Missed';
  return `${kind} · ${why}`;
}

/** Calls is the demo's call UI over one client. */
export class Calls {
  private view: HTMLElement | null = null;
  private dialog: HTMLElement | null = null;
  private current: Call | null = null;

  constructor(
    private readonly client: ParleyClient,
    private readonly root: HTMLElement,
    private readonly toast: (text: string) => void,
  ) {}

  /** start listens for incoming calls; the returned function stops. */
  start(): () => void {
    return this.client.on('call', (call) => this.incoming(call));
  }

  /** buttons returns the voice and video call buttons of a conversation's header. */
  buttons(conversationId: string): HTMLElement {
    const place = (video: boolean) => () => void this.place(conversationId, video);
    return h(
      'div',
      { class: 'call-buttons' },
      h('button', { class: 'icon-btn', type: 'button', 'data-testid': 'call-audio', 'aria-label': 'Voice call', title: 'Voice call', onclick: place(false) }, svgIcon('phone')),
      h('button', { class: 'icon-btn', type: 'button', 'data-testid': 'call-video', 'aria-label': 'Video call', title: 'Video call', onclick: place(true) }, svgIcon('video')),
    );
  }

  private async place(conversationId: string, video: boolean): Promise<void> {
    if (this.current) return;
    try {
      const call = await this.client.call(conversationId, { audio: true, video });
      this.show(call);
    } catch (e) {
      this.toast(`Call failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private incoming(call: Call): void {
    if (this.current) {
      void call.reject();
      return;
    }
    this.current = call;
    const close = () => {
      this.dialog?.remove();
      this.dialog = null;
    };
    const answer = (video: boolean) => async () => {
      close();
      try {
        await call.accept({ audio: true, video });
        this.show(call);
      } catch (e) {
        this.current = null;
        if (call.state === 'ended') return; // its 'ended' handler said why
        this.toast(`Could not answer: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    this.dialog = h(
      'div',
      { class: 'call-incoming', role: 'alertdialog', 'data-testid': 'call-incoming', 'aria-label': 'Incoming call' },
      h('p', null, `${call.peers.join(', ')} — incoming ${call.media.video ? 'video' : 'voice'} call`),
      h('button', { class: 'btn', type: 'button', 'data-testid': 'call-accept', onclick: answer(call.media.video) }, 'Answer'),
      call.media.video ? h('button', { class: 'btn soft', type: 'button', 'data-testid': 'call-accept-audio', onclick: answer(false) }, 'Voice only') : null,
      h('button', { class: 'btn danger', type: 'button', 'data-testid': 'call-reject', onclick: () => { close(); this.current = null; void call.reject(); } }, 'Decline'),
    );
    call.on('ended', (e) => {
      if (this.view) return;
      close();
      this.current = null;
      this.toast(REASONS[e.reason]);
    });
    this.root.append(this.dialog);
  }

  /** show opens the call view of a placed or answered call. */
  private show(call: Call): void {
    this.current = call;
    const status = h('p', { class: 'call-status', 'data-testid': 'call-status' }, call.state);
    const remotes = h('div', { class: 'call-remotes' });
    const local = h('video', { class: 'call-local', muted: true, autoplay: true, playsinline: true });
    local.muted = true;
    if (call.localStream) local.srcObject = call.localStream;
    const addRemote = (s: MediaStream) => {
      const v = h('video', { autoplay: true, playsinline: true, 'data-testid': 'call-remote' });
      v.srcObject = s;
      remotes.append(v);
    };
    call.remoteStreams.forEach(addRemote);
    let mic = true;
    let cam = call.media.video;
    const micBtn = h('button', { class: 'btn soft', type: 'button', 'data-testid': 'call-mic', onclick: () => { mic = !mic; call.setMicrophoneEnabled(mic); micBtn.textContent = mic ? 'Mute' : 'Unmute'; } }, 'Mute');
    const camBtn = h('button', { class: 'btn soft', type: 'button', 'data-testid': 'call-camera', onclick: async () => { cam = !cam; await call.setCameraEnabled(cam); camBtn.textContent = cam ? 'Camera off' : 'Camera on'; if (call.localStream) local.srcObject = call.localStream; } }, cam ? 'Camera off' : 'Camera on');
    const hang = h('button', { class: 'btn danger', type: 'button', 'data-testid': 'call-hangup', onclick: () => void call.hangup() }, 'Hang up');
    this.view = h('section', { class: 'call-view', 'data-testid': 'call-view', 'aria-label': 'Call' },
      h('h2', null, `${call.media.video ? 'Video' : 'Voice'} call with ${call.peers.join(', ')}`), status, remotes, local,
      h('div', { class: 'call-controls' }, micBtn, camBtn, hang));
    call.on('state', (s) => { status.textContent = s; });
    call.on('remoteStream', addRemote);
    call.on('ended', (e) => {
      this.view?.remove();
      this.view = null;
      this.current = null;
      this.toast(REASONS[e.reason]);
    });
    this.root.append(this.view);
  }
}
