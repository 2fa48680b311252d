import { fileURLToPath } from 'node:url';

/** ../shared beside the checkout (CI lays a copy there too). */
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const KJV_DIR = `${SHARED}models/kjv/`;
export const KJV_F32 = `${KJV_DIR}kjv-f32.gguf`;
export const KJV_F16 = `${KJV_DIR}kjv-f16.gguf`;
export const KJV_GOLDEN = `${KJV_DIR}golden.json`;
export const KJV_GOLDEN_F16 = `${KJV_DIR}golden-f16.json`;
export const KJV_HELDOUT = `${KJV_DIR}heldout.txt`;
