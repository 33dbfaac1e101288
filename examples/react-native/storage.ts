// Where the app keeps its data: a file-system module in a real app (react-native-fs, expo-file-system).
let backupFile: Uint8Array = new Uint8Array(0);
let database: Uint8Array = new Uint8Array(20_000);

export async function loadChatDatabase(): Promise<Uint8Array> {
  return database;
}
export async function saveChatDatabase(data: Uint8Array): Promise<void> {
  database = data;
}
export async function readBackupFile(): Promise<Uint8Array> {
  return backupFile;
}
export async function writeBackupFile(data: Uint8Array): Promise<void> {
  backupFile = data;
}
