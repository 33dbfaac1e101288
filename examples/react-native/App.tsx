// A backup screen: make a key (shown as its 64-digit code), encrypt the chat database with it,
// and restore it. Bytes in, bytes out: Hermes has no Web streams, and decryptBackupBytes
// authenticates everything before it returns.

import {
  decryptBackupBytes,
  E2EEError,
  encryptBackupBytes,
  formatBackupKey,
  generateBackupKey,
  parseBackupKey,
} from 'e2ee-backup';
import { useState } from 'react';
import { Button, Text, View } from 'react-native';
import { loadChatDatabase, readBackupFile, saveChatDatabase, writeBackupFile } from './storage';

export function App() {
  const [status, setStatus] = useState('');
  const [code, setCode] = useState('');

  async function backUp() {
    const key = generateBackupKey();
    const backup = await encryptBackupBytes(await loadChatDatabase(), {
      key,
      metadata: { app: 'chat', device: 'phone' },
    });
    await writeBackupFile(backup);
    setCode(formatBackupKey(key)); // show it once; the user writes it down
    setStatus(`backed up ${backup.length} bytes`);
  }

  async function restore(typed: string) {
    try {
      const { data, metadata } = await decryptBackupBytes(await readBackupFile(), {
        key: parseBackupKey(typed),
      });
      await saveChatDatabase(data);
      setStatus(`restored the backup of ${metadata.created}`);
    } catch (e) {
      if (e instanceof E2EEError && (e.code === 'WRONG_KEY' || e.code === 'KEY_FORMAT'))
        setStatus('That code does not open this backup.');
      else throw e;
    }
  }

  return (
    <View>
      <Button title="Back up" onPress={() => void backUp()} />
      <Button title="Restore" onPress={() => void restore(code)} />
      <Text selectable>{code}</Text>
      <Text>{status}</Text>
    </View>
  );
}
