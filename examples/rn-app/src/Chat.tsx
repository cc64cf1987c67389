import { useEffect, useState, type ReactElement } from 'react';
import { Button, FlatList, StyleSheet, Text, TextInput, View } from 'react-native';
import { ParleyError } from '@parley-im/react-native';
import type { Call, Message, ParleyClient } from '@parley-im/sdk';

interface Props {
  client: ParleyClient;
  conversationId: string;
  onBack: () => void;
  /** A call placed from this conversation (one-to-one: the peer). */
  onCall: (call: Call) => void;
}

/** One conversation: the cached page first, then live messages; sends show as pending until the relay acknowledges them. */
export function Chat({ client, conversationId, onBack, onCall }: Props): ReactElement {
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    const upsert = (m: Message) => {
      if (m.conversationId !== conversationId) return;
      setMessages((list) => {
        const i = list.findIndex((x) => x.clientId === m.clientId);
        if (i < 0) return [...list, m];
        const next = [...list];
        next[i] = m;
        return next;
      });
    };
    const offs = [client.on('message', upsert), client.on('messageUpdate', upsert)];
    client
      .messages(conversationId, { limit: 50 })
      .then((page) => {
        if (live) setMessages(page);
        return client.markRead(conversationId);
      })
      .catch((e: unknown) => setError(String(e)));
    return () => {
      live = false;
      for (const off of offs) off();
    };
  }, [client, conversationId]);

  const send = () => {
    const text = draft.trim();
    if (!text) return;
    setDraft('');
    // Resolves once the relay stored it; offline it waits in the outbox.
    client.sendText(conversationId, text).catch((e: unknown) => {
      setError(e instanceof ParleyError ? `not sent (${e.code}): ${e.message}` : String(e));
    });
  };

  const call = () => {
    // The camera and microphone open in the WebView's page (the app declares the permissions).
    client.call(conversationId, { audio: true, video: true }).then(onCall, (e: unknown) => {
      setError(e instanceof ParleyError ? `no call (${e.code}): ${e.message}` : String(e));
    });
  };

  return (
    <View style={styles.box}>
      <View style={styles.row}>
        <Button title="‹ Conversations" onPress={onBack} />
        {conversationId.startsWith('p:') && <Button title="Video call" onPress={call} />}
      </View>
      {error && <Text style={styles.error}>{error}</Text>}
      <FlatList
        data={messages}
        keyExtractor={(m) => m.clientId || m.id}
        renderItem={({ item }) => (
          <View style={[styles.bubble, item.sender === client.userId ? styles.mine : styles.theirs]}>
            <Text>{messageText(item)}</Text>
            <Text style={styles.meta}>{item.status === 'sent' ? `#${item.seq}` : item.status}</Text>
          </View>
        )}
      />
      <View style={styles.row}>
        <TextInput style={styles.input} value={draft} onChangeText={setDraft} onSubmitEditing={send} placeholder="message" />
        <Button title="Send" onPress={send} />
      </View>
    </View>
  );
}

const styles = StyleSheet.create({
  box: { flex: 1 },
  row: { flexDirection: 'row', gap: 8, padding: 12 },
  input: { flex: 1, borderWidth: 1, borderColor: '#ccc', borderRadius: 6, padding: 8 },
  bubble: { margin: 6, padding: 8, borderRadius: 8, maxWidth: '80%' },
  mine: { alignSelf: 'flex-end', backgroundColor: '#dcf3ff' },
  theirs: { alignSelf: 'flex-start', backgroundColor: '#eee' },
  meta: { fontSize: 10, color: '#888' },
  error: { color: '#c00', padding: 8 },
});

/** The line a message shows: its text, a group change in words, else its type. */
function messageText(m: Message): string {
  if (m.text !== undefined) return m.text;
  const b = (m.type === 'system' ? m.body : undefined) as { event?: string; by?: string; users?: string[] } | undefined;
  if (b?.event === 'created') return `${b.by} created the group`;
  if (b?.event) return `${b.by} · ${b.event} ${(b.users ?? []).join(', ')}`.trim();
  return `[${m.type} message]`;
}
