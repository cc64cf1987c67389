// The sign-in screen. The demo signs people in through the relay's
// development endpoint (POST /dev/token?user=NAME, only with --dev-tokens);
// a real app gets its tokens from its own server after its own login.
import { h, icon } from './dom';
import { NAME_RE } from './format';

export const DEV_TOKEN_PATH = '/dev/token';

/** Asks the relay's development endpoint for a token for user. */
export async function fetchDevToken(user: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${DEV_TOKEN_PATH}?user=${encodeURIComponent(user)}`, { method: 'POST', cache: 'no-store' });
  } catch {
    throw new Error('Cannot reach the relay. Is it running?');
  }
  if (res.status === 404 || res.status === 405) {
    throw new Error('This relay does not offer development sign-in. Start it with --dev-tokens (./build.sh demo does).');
  }
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).trim();
    throw new Error(text || `Sign-in failed (HTTP ${res.status})`);
  }
  return (await res.text()).trim();
}

export interface SigninOptions {
  lastUser: string;
  notice?: string;
  onSubmit(user: string): Promise<void>;
}

export function renderSignin(opts: SigninOptions): HTMLElement {
  const input = h('input', {
    id: 'signin-user',
    'data-testid': 'signin-user',
    name: 'user',
    type: 'text',
    autocomplete: 'username',
    autocapitalize: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. alice',
    maxlength: 64,
    required: true,
    value: opts.lastUser,
  });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const button = h('button', { class: 'btn primary wide', type: 'submit', 'data-testid': 'signin-submit' }, 'Sign in');

  const form = h(
    'form',
    {
      class: 'signin-card',
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const user = input.value.trim();
        if (!NAME_RE.test(user)) {
          showError('Use 1–64 letters, digits or . _ @ - (no spaces).');
          return;
        }
        button.disabled = true;
        button.textContent = 'Signing in…';
        error.hidden = true;
        try {
          await opts.onSubmit(user);
        } catch (err) {
          showError(err instanceof Error ? err.message : String(err));
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, icon('chat')), h('span', null, 'Parley')),
    h('h1', null, 'Sign in to chat'),
    opts.notice ? h('p', { class: 'notice' }, opts.notice) : null,
    h('label', { for: 'signin-user' }, 'Your name'),
    input,
    error,
    button,
    h(
      'p',
      { class: 'dev-note' },
      h('strong', null, 'Development sign-in. '),
      'This demo asks the relay’s ',
      h('code', null, 'POST /dev/token'),
      ' endpoint for a token for any name you type — no password. ',
      'A real app signs people in through its own server, which mints the tokens.',
    ),
  );

  function showError(msg: string) {
    error.textContent = msg;
    error.hidden = false;
    input.focus();
  }

  queueMicrotask(() => input.focus());
  return h('main', { class: 'signin' }, form);
}
