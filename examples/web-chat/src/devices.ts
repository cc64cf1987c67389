// The devices dialog: the user's open sessions on every relay, each but this
// one with a button that signs it out (ParleyClient.kickDevice).
import { Codes, type Device, type KickedEvent, type ParleyClient } from '@parley-im/sdk';
import { h, icon } from './dom';

function since(at: number): string {
  const d = new Date(at);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Opens the dialog; it lists the devices when it opens and after every sign-out. */
export function openDevices(client: ParleyClient): void {
  const list = h('ul', { class: 'device-list', 'data-testid': 'device-list' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const dialog = h('dialog', { class: 'dialog', 'aria-label': 'Your devices', 'data-testid': 'devices-dialog' });

  const show = (msg: string) => {
    error.textContent = msg;
    error.hidden = msg === '';
  };
  const render = (devices: Device[]) => {
    list.replaceChildren(
      ...devices.map((d) =>
        h(
          'li',
          { class: 'device', 'data-testid': 'device', 'data-device': d.id },
          h('div', { class: 'device-main' },
            h('strong', null, d.platform || 'other', d.current ? ' · this device' : ''),
            h('small', null, `${d.id} · since ${since(d.connectedAt)}`)),
          d.current
            ? null
            : h('button', {
                class: 'btn soft', type: 'button', 'data-testid': 'kick-device',
                onclick: async () => {
                  try {
                    await client.kickDevice(d.id);
                    await refresh();
                  } catch (e) {
                    show(e instanceof Error ? e.message : String(e));
                  }
                },
              }, 'Sign out'),
        ),
      ),
    );
  };
  const refresh = async () => {
    try {
      render(await client.devices());
      show('');
    } catch (e) {
      show(e instanceof Error ? e.message : String(e));
    }
  };

  dialog.append(
    h('form', { method: 'dialog' },
      h('header', null, h('h2', null, 'Your devices'),
        h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', onclick: () => dialog.close() }, icon('close'))),
      list,
      error,
      h('footer', null, h('button', { class: 'btn', type: 'button', onclick: () => void refresh() }, 'Refresh'))),
  );
  // Sessions come and go while it is open (another tab, a sign-out elsewhere).
  const timer = setInterval(() => void refresh(), 5000);
  dialog.addEventListener('close', () => {
    clearInterval(timer);
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  void refresh();
}

/** kickedNotice is what the sign-in page says after the relay ended this session for good. */
export function kickedNotice(e: KickedEvent): string {
  switch (e.code) {
    case Codes.DeviceKicked:
      return `You were signed out by another of your devices (${e.code}).`;
    case Codes.DevicePolicy:
      return `You signed in on another device of the same kind, which took over this session (${e.code}).`;
  }
  return `You were signed out: ${e.reason || 'signed in elsewhere'} (${e.code}).`;
}
