import { ParleyProvider } from '@parley-im/react';
import { Chat } from './Chat';
import { SignIn } from './SignIn';
import { useSession } from './session';

export function App() {
  const { session, notice } = useSession();
  if (!session) return <SignIn notice={notice} />;
  // key: another user is another app, with nothing kept from the last one.
  return (
    <ParleyProvider client={session.client}>
      <Chat key={session.user} me={session.user} />
    </ParleyProvider>
  );
}
