import { useState, type ReactElement } from 'react';
import { Button, FlatList, Pressable, StyleSheet, Text, TextInput, View } from 'react-native';
import type { Conversation, ParleyClient } from '@parley-im/sdk';

interface Props {
  client: ParleyClient;
  conversations: Conversation[];
  onOpen: (conversationId: string) => void;
}

/** The conversation list, newest first, with unread counts; a peer's id opens a one-to-one chat. */
export function Conversations({ client, conversations, onOpen }: Props): ReactElement {
  const [peer, setPeer] = useState('');
  return (
    <View style={styles.box}>
      <View style={styles.row}>
        <TextInput style={styles.input} placeholder="chat with (user id)" autoCapitalize="none" value={peer} onChangeText={setPeer} />
        <Button title="Open" disabled={!peer || !client.userId} onPress={() => onOpen(client.p2p(peer))} />
      </View>
      <FlatList
        data={conversations}
        keyExtractor={(c) => c.id}
        renderItem={({ item }) => (
          <Pressable style={styles.item} onPress={() => onOpen(item.id)}>
            <Text style={styles.name}>{title(item, client.userId)}</Text>
            <Text numberOfLines={1} style={styles.last}>
              {item.lastMessage?.text ?? ''}
            </Text>
            {item.unread > 0 && <Text style={styles.unread}>{item.unread}</Text>}
          </Pressable>
        )}
      />
    </View>
  );
}

export function title(c: Conversation, me: string): string {
  if (c.type === 'p2p') return c.id.slice(2).split(':').find((u) => u !== me) ?? c.id;
  return c.name ?? c.id;
}

const styles = StyleSheet.create({
  box: { flex: 1 },
  row: { flexDirection: 'row', gap: 8, padding: 12, alignItems: 'center' },
  input: { flex: 1, borderWidth: 1, borderColor: '#ccc', borderRadius: 6, padding: 8 },
  item: { padding: 12, borderBottomWidth: StyleSheet.hairlineWidth, borderColor: '#ddd' },
  name: { fontWeight: '600' },
  last: { color: '#666' },
  unread: { position: 'absolute', right: 12, top: 12, color: '#fff', backgroundColor: '#d33', borderRadius: 10, paddingHorizontal: 6 },
});
