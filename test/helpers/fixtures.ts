import { fileURLToPath } from 'node:url';

/** The kjv fixtures live in the repository (models/kjv/), so a clone tests with nothing beside it. */
export const KJV_DIR = fileURLToPath(new URL('../../models/kjv/', import.meta.url));
export const KJV_F32 = `${KJV_DIR}kjv-f32.gguf`;
export const KJV_F16 = `${KJV_DIR}kjv-f16.gguf`;
export const KJV_GOLDEN = `${KJV_DIR}golden.json`;
export const KJV_GOLDEN_F16 = `${KJV_DIR}golden-f16.json`;
export const KJV_HELDOUT = `${KJV_DIR}heldout.txt`;
