import { useState, type ReactElement } from 'react';
import { Button, StyleSheet, Text, TextInput, View } from 'react-native';

export function SignIn({ onSignIn }: { onSignIn: (user: string) => void }): ReactElement {
  const [user, setUser] = useState('');
  const valid = /^[A-Za-z0-9_.@-]{1,64}$/.test(user);
  return (
    <View style={styles.box}>
      <Text style={styles.title}>Parley</Text>
      <TextInput
        style={styles.input}
        placeholder="user id (e.g. alice)"
        autoCapitalize="none"
        autoCorrect={false}
        value={user}
        onChangeText={setUser}
        onSubmitEditing={() => valid && onSignIn(user)}
      />
      <Button title="Sign in" disabled={!valid} onPress={() => onSignIn(user)} />
    </View>
  );
}

const styles = StyleSheet.create({
  box: { flex: 1, justifyContent: 'center', padding: 24, gap: 12 },
  title: { fontSize: 28, fontWeight: '600' },
  input: { borderWidth: 1, borderColor: '#ccc', borderRadius: 6, padding: 10 },
});
