import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../common/paths.js';
import type { Store } from '../../store/index.js';
import { createModel } from './create.js';

const SETTING = 'demo_model_imported';

/**
 * On the first start of a store, the bundled kjv model (models/kjv) becomes
 * `kjv:latest`, so a fresh install has a model to try. Done once: a user who
 * deletes it does not get it back on the next start.
 */
export async function importDemoModel(store: Store, log: (m: string) => void): Promise<void> {
  if (store.getSetting(SETTING)) return;
  const dir = join(packageRoot(), 'models', 'kjv');
  const file = join(dir, 'kjv-f16.gguf');
  if (!existsSync(file)) return;
  const blob = await store.blobs.writeStream(createReadStream(file));
  await createModel(
    store,
    {
      model: 'kjv',
      files: { 'kjv-f16.gguf': blob.digest },
      parameters: { num_ctx: 256, stop: ['<|eot_id|>', '<|end_of_text|>'] },
      license: 'The kjv demo model was trained on the King James Bible text (public domain).',
    },
    () => {},
  );
  store.setSetting(SETTING, new Date().toISOString());
  log('imported the bundled demo model as kjv:latest');
}
