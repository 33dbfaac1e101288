/** Starts the static server on 127.0.0.1; resolves to its URL and a close function. */
export function serve(port?: number, root?: string): Promise<{ url: string; close(): Promise<void> }>;
