// Shared by the Node and the browser stream benchmarks (bench/browser/page.mjs is bundled).

/**
 * Writes `input` into a TransformStream in `write`-byte pieces while draining its output, as a
 * file would be streamed through it; answers the output length. `check(piece, offset)`, when
 * given, sees each output piece.
 */
export async function pump(stream, input, write, check) {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const drain = (async () => {
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return n;
      check?.(value, n);
      n += value.length;
    }
  })();
  for (let off = 0; off < input.length; off += write) await writer.write(input.subarray(off, off + write));
  await writer.close();
  return drain;
}
