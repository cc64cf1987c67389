import { useCallback, useEffect, useState, type ReactElement } from 'react';
import { SafeAreaView, StyleSheet, Text } from 'react-native';
import { ParleyHost } from '@parley-im/react-native';
import { hostHtml } from '@parley-im/react-native/inline-host';
import { HOST_BASE_URL } from './config';
import { useParley } from './useParley';
import { SignIn } from './SignIn';
import { Conversations } from './Conversations';
import { Chat } from './Chat';
import { CallBar } from './CallBar';
import type { Call } from '@parley-im/sdk';

export function App(): ReactElement {
  const [user, setUser] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const { client, state, conversations, error } = useParley(user);
  // The call in progress: the WebView is its screen while there is one.
  const [call, setCall] = useState<Call | null>(null);
  useEffect(() => client?.on('call', (c) => setCall((cur) => cur ?? c)), [client]);
  const done = useCallback(() => setCall(null), []);

  return (
    <SafeAreaView style={styles.root}>
      {/* Once, at the root, for the app's whole life: the client runs in it. */}
      {/* During a call it is also the call screen: its page plays the media. */}
      <ParleyHost
        source={{ html: hostHtml, baseUrl: HOST_BASE_URL }}
        callVisible={call !== null}
        onHostError={(reason) => console.warn(`[parley host] ${reason}`)}
      />
      {user && <Text style={styles.status}>{`${user} · ${state}`}</Text>}
      {error && <Text style={styles.error}>{error}</Text>}
      {!user ? (
        <SignIn onSignIn={setUser} />
      ) : !client ? (
        <Text style={styles.status}>starting…</Text>
      ) : open ? (
        <Chat client={client} conversationId={open} onBack={() => setOpen(null)} onCall={setCall} />
      ) : (
        <Conversations client={client} conversations={conversations} onOpen={setOpen} />
      )}
      {call && <CallBar call={call} onDone={done} />}
    </SafeAreaView>
  );
}

const styles = StyleSheet.create({
  root: { flex: 1 },
  status: { padding: 8, color: '#555' },
  error: { padding: 8, color: '#c00' },
});
