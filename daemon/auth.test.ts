import { describe, expect, it } from 'vitest';
import { hashKey, isLoopback, matchKey, newKey, presentedKey, requiredScope } from './auth.js';

describe('API key helpers', () => {
  it('makes distinct 256-bit keys and keeps only their hash', () => {
    const a = newKey();
    const b = newKey();
    expect(a.key).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
    expect(a.key).not.toBe(b.key);
    expect(a.id).toMatch(/^[0-9a-f]{8}$/);
    expect(a.hash).toBe(hashKey(a.key));
    expect(a.hash).not.toContain(a.key.slice(5));
  });

  it('reads a Bearer token (any case of the scheme), else x-api-key', () => {
    expect(presentedKey('Bearer abc', undefined)).toBe('abc');
    expect(presentedKey('bearer   abc ', 'zzz')).toBe('abc');
    expect(presentedKey('Basic abc', 'xyz')).toBe('xyz');
    expect(presentedKey('Bearer', undefined)).toBeUndefined();
    expect(presentedKey('Bearer a b', undefined)).toBeUndefined();
    expect(presentedKey(undefined, '  ')).toBeUndefined();
    expect(presentedKey(undefined, undefined)).toBeUndefined();
  });

  it('matches a presented key against every active key', () => {
    const [a, b] = [newKey(), newKey()];
    const keys = [{ id: a.id, scope: 'inference' as const, hash: a.hash }, { id: b.id, scope: 'admin' as const, hash: b.hash }];
    expect(matchKey(keys, b.key)?.id).toBe(b.id);
    expect(matchKey(keys, a.key)?.scope).toBe('inference');
    expect(matchKey(keys, `${a.key}x`)).toBeUndefined();
    expect(matchKey(keys, a.hash)).toBeUndefined();
    expect(matchKey([{ id: 'x', scope: 'admin', hash: 'not hex' }], '')).toBeUndefined();
  });

  it('needs admin for everything but the inference routes', () => {
    for (const [m, p] of [['POST', '/api/generate'], ['POST', '/api/chat'], ['POST', '/api/embed'], ['POST', '/api/embeddings'], ['POST', '/api/show'], ['POST', '/api/tokenize'], ['POST', '/api/detokenize'], ['POST', '/api/rerank'], ['GET', '/api/tags'], ['HEAD', '/api/tags'], ['GET', '/api/ps'], ['GET', '/api/version'], ['GET', '/'], ['GET', '/metrics'], ['POST', '/v1/chat/completions'], ['GET', '/v1/models/kjv'], ['POST', '/v1/messages'], ['DELETE', '/v1/responses/r1']]) {
      expect([m, p, requiredScope(m, p)]).toEqual([m, p, 'inference']);
    }
    for (const [m, p] of [['POST', '/api/pull'], ['POST', '/api/push'], ['POST', '/api/create'], ['POST', '/api/copy'], ['DELETE', '/api/delete'], ['POST', '/api/blobs/sha256:00'], ['HEAD', '/api/blobs/sha256:00'], ['POST', '/api/export'], ['POST', '/api/import'], ['POST', '/api/verify'], ['POST', '/api/prune'], ['GET', '/api/debug/internals'], ['GET', '/api/generate'], ['POST', '/api/tags'], ['GET', '/v1x']]) {
      expect([m, p, requiredScope(m, p)]).toEqual([m, p, 'admin']);
    }
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', 'a.localhost', '::ffff:127.0.0.1']) expect([h, isLoopback(h)]).toEqual([h, true]);
    for (const h of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.com', 'localhost.example.com', '128.0.0.1']) expect([h, isLoopback(h)]).toEqual([h, false]);
  });
});
