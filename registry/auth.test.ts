import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKilnError } from '../common/errors.js';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { checkRealm, loadCredentials, parseChallenge } from './auth.js';

describe('parseChallenge', () => {
  const table: [string, ReturnType<typeof parseChallenge>][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      { scheme: 'bearer', realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scopes: ['repository:samalba/my-app:pull,push'] },
    ],
    [
      'bearer realm="http://127.0.0.1:5001/token", service="reg", scope="repository:a/b:pull repository:c/d:pull"',
      { scheme: 'bearer', realm: 'http://127.0.0.1:5001/token', service: 'reg', scopes: ['repository:a/b:pull', 'repository:c/d:pull'] },
    ],
    ['Basic realm="Registry Realm"', { scheme: 'basic', realm: 'Registry Realm', service: undefined, scopes: [] }],
    ['Bearer realm=https://x/token,service=s', { scheme: 'bearer', realm: 'https://x/token', service: 's', scopes: [] }],
    ['Bearer realm="a\\"b"', { scheme: 'bearer', realm: 'a"b', service: undefined, scopes: [] }],
    ['Negotiate abc', undefined],
    ['', undefined],
  ];
  for (const [header, want] of table) {
    it(`parses ${JSON.stringify(header).slice(0, 60)}`, () => expect(parseChallenge(header)).toEqual(want));
  }
  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseChallenge(`Bearer ${s}`)));
  });
});

describe('checkRealm (CVE-2025-51471)', () => {
  const ok = { insecure: false, trusted: [] as string[] };
  it('accepts a realm on the registry host, any port', () => {
    expect(checkRealm('https://reg.example:8443/token', 'reg.example', ok).href).toBe('https://reg.example:8443/token');
    expect(checkRealm('http://127.0.0.1:9/token', '127.0.0.1:5000', { ...ok, insecure: true }).host).toBe('127.0.0.1:9');
  });
  it("accepts the public registries' own realm hosts", () => {
    expect(checkRealm('https://ollama.com/token', 'registry.ollama.ai', ok).hostname).toBe('ollama.com');
  });
  const refused: [string, string, string[]][] = [
    ['https://evil.example/token', 'reg.example', []],
    ['https://reg.example.evil.example/token', 'reg.example', []],
    ['http://reg.example/token', 'reg.example', []], // plain http without --insecure
    ['https://user:pw@reg.example/token', 'reg.example', []],
    ['file:///etc/passwd', 'reg.example', []],
    ['not a url', 'reg.example', []],
    ['https://localhost/token', '127.0.0.1:5000', []],
  ];
  for (const [realm, host, trusted] of refused) {
    it(`refuses ${realm} for ${host}`, () => {
      let err: unknown;
      try {
        checkRealm(realm, host, { insecure: false, trusted });
      } catch (e) {
        err = e;
      }
      expect(isKilnError(err, 'E_FORBIDDEN_REALM')).toBe(true);
    });
  }
  it('accepts another host the user configured', () => {
    expect(checkRealm('https://auth.corp.example/t', 'reg.example', { insecure: false, trusted: ['auth.corp.example'] }).hostname).toBe('auth.corp.example');
  });
});

describe('loadCredentials', () => {
  let dir: string;
  beforeEach(() => (dir = tempHome()));
  afterEach(() => cleanup(dir));

  it('reads kiln auth.json first, then the Docker config, in both entry shapes', () => {
    const kilnFile = join(dir, 'auth.json');
    const docker = join(dir, 'config.json');
    writeFileSync(kilnFile, JSON.stringify({ auths: { 'a.example:5000': { username: 'u1', password: 'p1' } } }));
    writeFileSync(
      docker,
      JSON.stringify({
        auths: {
          'a.example:5000': { auth: Buffer.from('u2:p2').toString('base64') },
          'https://b.example/v1/': { auth: Buffer.from('u3:p:3').toString('base64') },
          'https://index.docker.io/v1/': { identitytoken: 'tok' },
        },
        credsStore: 'desktop',
      }),
    );
    const files = [kilnFile, docker];
    expect(loadCredentials('a.example:5000', files)).toEqual({ username: 'u1', password: 'p1' });
    expect(loadCredentials('B.example', files)).toEqual({ username: 'u3', password: 'p:3' });
    expect(loadCredentials('registry-1.docker.io', files)).toEqual({ identityToken: 'tok' });
    expect(loadCredentials('c.example', files)).toBeUndefined();
    expect(loadCredentials('a.example:5000', [join(dir, 'missing.json'), docker])).toEqual({ username: 'u2', password: 'p2' });
  });

  it('ignores malformed files', () => {
    writeFileSync(join(dir, 'bad.json'), '{not json');
    writeFileSync(join(dir, 'odd.json'), JSON.stringify({ auths: { 'a.example': 'x' } }));
    expect(loadCredentials('a.example', [join(dir, 'bad.json'), join(dir, 'odd.json')])).toBeUndefined();
  });
});
