/**
 * A small HTTP server (node:http) for the faults a real registry does not
 * produce: hostile manifests, lying sizes, 500s, dropped and stalled
 * connections, hostile auth realms, redirect loops. It either plays a registry
 * itself (`fakeRegistry`) or stands in front of the real one (`proxy`), with
 * throttling and byte counting, and logs every request it sees.
 */
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, srv: FaultServer) => void | Promise<void>;

export interface FaultServer {
  url: string;
  /** `127.0.0.1:PORT`, the host part of a model name. */
  host: string;
  port: number;
  seen: Seen[];
  /** Bytes of blob bodies sent (GET …/blobs/…). */
  blobBytes: number;
  handler: Handler;
  stop(): Promise<void>;
}

export async function startFaultServer(handler: Handler): Promise<FaultServer> {
  const srv: FaultServer = { url: '', host: '', port: 0, seen: [], blobBytes: 0, handler, stop: async () => {} };
  const server: Server = createServer((req, res) => {
    srv.seen.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    Promise.resolve(srv.handler(req, res, srv)).catch((e) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  srv.port = (server.address() as { port: number }).port;
  srv.host = `127.0.0.1:${srv.port}`;
  srv.url = `http://${srv.host}`;
  srv.stop = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return srv;
}

export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BlobFaults {
  /** Bytes per second (paced in 64 KiB writes). */
  throttle?: number;
  /** Close the connection after this many body bytes of this response. */
  dropAfter?: number;
  /** Send this many bytes, then go silent (connection kept open). */
  stallAfter?: number;
  /** The total size the server claims (Content-Range / Content-Length); defaults to the real one. */
  claimTotal?: number;
  /** Ignore Range and send everything with 200. */
  ignoreRange?: boolean;
}

function parseRange(h: string | undefined, size: number): [number, number] | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(h ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
  return [start, end];
}

/** Writes `data` with optional pacing, a drop or a stall; counts what went out. */
export async function writeBody(res: ServerResponse, data: Buffer, f: BlobFaults, count: (n: number) => void): Promise<void> {
  const step = 64 * 1024;
  let sent = 0;
  while (sent < data.length) {
    let n = Math.min(step, data.length - sent);
    if (f.dropAfter !== undefined) n = Math.min(n, f.dropAfter - sent);
    if (f.stallAfter !== undefined) n = Math.min(n, f.stallAfter - sent);
    if (n <= 0) {
      if (f.stallAfter !== undefined && sent >= f.stallAfter) return; // hang: the client must give up on us
      res.socket?.destroy();
      return;
    }
    const ok = res.write(data.subarray(sent, sent + n));
    sent += n;
    count(n);
    if (!ok) await new Promise((r) => res.once('drain', r));
    if (f.throttle) await new Promise((r) => setTimeout(r, (n / f.throttle!) * 1000));
    if (res.destroyed) return;
  }
  res.end();
}

/** Answers a blob GET/HEAD for `data`, honouring Range, with optional faults. */
export async function serveBlob(req: IncomingMessage, res: ServerResponse, srv: FaultServer, data: Buffer, f: BlobFaults = {}): Promise<void> {
  const total = f.claimTotal ?? data.length;
  const range = f.ignoreRange ? undefined : parseRange(req.headers.range, data.length);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'docker-content-digest': sha(data) };
  if (range && range[0] >= data.length) {
    res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
    return;
  }
  const body = range ? data.subarray(range[0], range[1] + 1) : data;
  if (range) {
    headers['content-range'] = `bytes ${range[0]}-${range[1]}/${total}`;
    headers['content-length'] = String(body.length);
    res.writeHead(206, headers);
  } else {
    headers['content-length'] = String(f.claimTotal ?? body.length);
    res.writeHead(200, headers);
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await writeBody(res, body, f, (n) => (srv.blobBytes += n));
}

export interface FakeContent {
  /** `ns/model:tag` → manifest bytes */
  manifests: Map<string, Buffer>;
  /** digest → bytes */
  blobs: Map<string, Buffer>;
}

/** A read-only registry serving `content` (no auth). */
export function fakeRegistry(content: FakeContent, faults: (req: IncomingMessage) => BlobFaults = () => ({})): Handler {
  return async (req, res, srv) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const [, repo, kind, ref] = m;
    if (kind === 'manifests') {
      const body = content.manifests.get(`${repo}:${decodeURIComponent(ref)}`);
      if (!body) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'content-length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const blob = content.blobs.get(ref);
    if (!blob) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
      return;
    }
    await serveBlob(req, res, srv, blob, faults(req));
  };
}

/** Forwards to `upstream` (a real registry), pacing and counting blob bodies on the way back. */
export function proxy(upstream: string, opts: { throttle?: () => number | undefined } = {}): Handler {
  const up = new URL(upstream);
  return (req, res, srv) =>
    new Promise<void>((resolve) => {
      const isBlob = /\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET';
      const headers = { ...req.headers, host: up.host };
      const out = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, async (upRes) => {
        // Locations point at the upstream; rewrite them to us so the client keeps coming through.
        const h = { ...upRes.headers };
        if (typeof h.location === 'string') h.location = h.location.replace(upstream, srv.url);
        res.writeHead(upRes.statusCode ?? 502, h);
        if (!isBlob) {
          upRes.pipe(res);
          upRes.on('end', () => resolve());
          return;
        }
        upRes.on('error', () => resolve());
        res.on('close', () => upRes.destroy());
        try {
          for await (const chunk of upRes) {
            if (res.destroyed) break;
            const t = opts.throttle?.();
            const ok = res.write(chunk);
            srv.blobBytes += (chunk as Buffer).length;
            if (!ok) await new Promise((r) => res.once('drain', r));
            if (t) await new Promise((r) => setTimeout(r, ((chunk as Buffer).length / t) * 1000));
          }
          res.end();
        } catch {
          res.destroy(); // the client went away (a killed daemon): nothing to finish
        }
        resolve();
      });
      out.on('error', () => {
        if (!res.headersSent) res.writeHead(502).end();
        resolve();
      });
      req.pipe(out);
    });
}
