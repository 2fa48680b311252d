import { describe, expect, it } from 'vitest';
import { isKilnError } from './errors.js';
import { blobFileName, digestFromBlobFileName, isDigest, parseDigest, type Digest } from './digest.js';

const HEX = '0123456789abcdef'.repeat(4);

function expectInvalid(f: () => unknown): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(isKilnError(thrown, 'E_INVALID_DIGEST')).toBe(true);
}

const BAD = [
  '',
  'sha256:',
  `sha256:${HEX.slice(1)}`,
  `sha256:${HEX}0`,
  `sha256:${HEX.toUpperCase()}`,
  `SHA256:${HEX}`,
  `sha512:${HEX}${HEX}`,
  `sha256:../../${HEX.slice(6)}`,
  'sha256:../../x',
  `sha256-${HEX}`,
  ` sha256:${HEX}`,
  `sha256:${HEX} `,
  `sha256:${HEX}\n`,
  `sha256: ${HEX.slice(1)}`,
  `sha256:${HEX.slice(1)}\0`,
  `sha256:${HEX.slice(1)}g`,
  `sha256:${HEX}/x`,
  HEX,
];

describe('parseDigest', () => {
  it('accepts sha256 with 64 lowercase hex digits', () => {
    expect(parseDigest(`sha256:${HEX}`)).toBe(`sha256:${HEX}`);
    expect(isDigest(`sha256:${HEX}`)).toBe(true);
  });

  it.each(BAD.map((s) => [s]))('rejects %j', (s) => {
    expectInvalid(() => parseDigest(s));
    expect(isDigest(s)).toBe(false);
  });

  it('shows control characters escaped in the message', () => {
    expect(() => parseDigest('sha256:\0')).toThrow('invalid digest "sha256:\\u0000"');
  });
});

describe('blob file names', () => {
  it('round-trips a digest through its file name', () => {
    const d = parseDigest(`sha256:${HEX}`);
    expect(blobFileName(d)).toBe(`sha256-${HEX}`);
    expect(digestFromBlobFileName(blobFileName(d))).toBe(d);
  });

  it.each([
    [`sha256:${HEX}`],
    [`sha256-${HEX.toUpperCase()}`],
    [`sha256-${HEX}.partial`],
    [`sha256-${HEX.slice(1)}`],
    ['sha256-../../x'],
    [`sha512-${HEX}`],
    [''],
  ])('rejects file name %j', (s) => {
    expectInvalid(() => digestFromBlobFileName(s));
  });

  it('refuses to name a file for an unchecked string cast to Digest', () => {
    expectInvalid(() => blobFileName('sha256:../../x' as Digest));
  });
});
