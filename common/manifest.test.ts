import { describe, expect, it } from 'vitest';
import { encodeManifest, MEDIA, parseManifest, sha256Digest } from './manifest.js';

const digest = (s: string) => sha256Digest(Buffer.from(s));

describe('manifests', () => {
  // Found by bench/fuzz.ts (manifest target): an empty `from` was kept by the
  // parser and dropped by the writer, so a manifest kiln wrote back differed from the one it read.
  it.each([['a path', '/models/kjv.gguf'], ['an empty string', '']])('keeps a layer from of %s through encode and parse', (_, from) => {
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.config, digest: digest('c'), size: 1 },
      layers: [{ mediaType: MEDIA.model, digest: digest('m'), size: 2, from }],
    }));
    const m = parseManifest(bytes);
    expect(m.layers[0].from).toBe(from);
    expect(parseManifest(encodeManifest(m))).toEqual(m);
  });
});
