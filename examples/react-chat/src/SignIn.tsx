import { useState, type FormEvent } from 'react';
import { fetchDevToken, lastUser, signIn } from './session';

const NAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

export function SignIn({ notice }: { notice: string }) {
  const [user, setUser] = useState(lastUser);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const name = user.trim();
    if (!NAME_RE.test(name)) {
      setError('Use 1–64 letters, digits or . _ @ - (no spaces).');
      return;
    }
    setBusy(true);
    setError('');
    try {
      // Ask once now, so a setup mistake shows here and not as an endless "connecting".
      await signIn(name, await fetchDevToken(name));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form className="card" onSubmit={submit} noValidate>
        <h1>Parley · React chat</h1>
        {notice && <p className="notice">{notice}</p>}
        <label htmlFor="signin-user">Your name</label>
        <input
          id="signin-user"
          data-testid="signin-user"
          autoFocus
          autoComplete="username"
          placeholder="e.g. alice"
          value={user}
          onChange={(e) => setUser(e.target.value)}
        />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button className="primary" type="submit" data-testid="signin-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="hint">
          <strong>Development sign-in.</strong> The relay's <code>POST /dev/token</code> gives a token for any name;
          a real app signs people in through its own server.
        </p>
      </form>
    </main>
  );
}
