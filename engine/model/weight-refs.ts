import { KilnError } from '../../common/errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import type { WeightRef } from '../../kernels/llama.js';

/**
 * A lookup of a GGUF's tensors as the native forward passes take them
 * (absolute byte offset, type, row length, rows): a missing required tensor
 * is a clear E_GGUF_MALFORMED, a missing optional one undefined.
 */
export function weightRefs(file: GGUFFile): (name: string, required: boolean) => WeightRef | undefined {
  const byName = new Map<string, GGUFTensorInfo>(file.tensors.map((t) => [t.name, t]));
  return (name, required) => {
    const t = byName.get(name);
    if (!t) {
      if (required) throw new KilnError('E_GGUF_MALFORMED', `tensor '${name}' is missing from the model`);
      return undefined;
    }
    return { offset: t.absOffset, type: t.type, ne0: t.dims[0], ne1: t.dims.slice(1).reduce((a, b) => a * b, 1) };
  };
}
