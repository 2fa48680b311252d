import type { ProgressResponse, PullRequest, PushRequest } from '../../daemon/api/types.js';
import type { Client } from '../client.js';
import { showProgress } from '../ui/progress.js';

/** `kiln pull NAME [--insecure]` */
export async function pullCommand(client: Client, name: string, insecure: boolean, opts: { showError?: boolean } = {}): Promise<void> {
  const req: PullRequest = { model: name, insecure, stream: true };
  await showProgress(client.stream<ProgressResponse>('/api/pull', req), process.stdout, opts);
}

/** `kiln push NAME [--insecure]` */
export async function pushCommand(client: Client, name: string, insecure: boolean): Promise<void> {
  const req: PushRequest = { model: name, insecure, stream: true };
  await showProgress(client.stream<ProgressResponse>('/api/push', req));
}
