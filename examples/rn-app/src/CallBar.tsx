import { useEffect, useState, type ReactElement } from 'react';
import { Button, StyleSheet, Text, View } from 'react-native';
import type { Call, CallState } from '@parley-im/sdk';

interface Props {
  call: Call;
  /** The call ended (or this device let it go): the app hides the call screen. */
  onDone: () => void;
}

/**
 * The controls of a call, drawn over the WebView while it is the call
 * screen (<ParleyHost callVisible />): the host page plays the media, this
 * bar answers, declines, mutes and hangs up through the Call proxy.
 */
export function CallBar({ call, onDone }: Props): ReactElement {
  const [state, setState] = useState<CallState>(call.state);
  const [muted, setMuted] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const offs = [
      call.on('state', setState),
      call.on('ended', () => onDone()),
    ];
    return () => offs.forEach((off) => off());
  }, [call, onDone]);

  const run = (p: Promise<void>) => p.catch((e: unknown) => setError(String(e)));
  const ringingHere = call.direction === 'incoming' && state === 'ringing';

  return (
    <View style={styles.bar}>
      <Text style={styles.text}>{`${call.direction === 'incoming' ? 'from' : 'to'} ${call.peers.join(', ')} · ${state}`}</Text>
      {error && <Text style={styles.error}>{error}</Text>}
      <View style={styles.row}>
        {ringingHere ? (
          <>
            <Button title="Answer" onPress={() => void run(call.accept())} />
            <Button title="Decline" onPress={() => void run(call.reject())} />
          </>
        ) : (
          <>
            <Button
              title={muted ? 'Unmute' : 'Mute'}
              onPress={() => {
                call.setMicrophoneEnabled(muted);
                setMuted(!muted);
              }}
            />
            <Button title="Hang up" onPress={() => void run(call.hangup())} />
          </>
        )}
      </View>
    </View>
  );
}

const styles = StyleSheet.create({
  bar: { position: 'absolute', left: 0, right: 0, bottom: 0, padding: 16, backgroundColor: 'rgba(0,0,0,0.6)', zIndex: 2 },
  row: { flexDirection: 'row', justifyContent: 'space-around' },
  text: { color: '#fff', textAlign: 'center', marginBottom: 8 },
  error: { color: '#f88', textAlign: 'center' },
});
