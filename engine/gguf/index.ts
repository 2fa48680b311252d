/** GGUF: type tables, the header reader, the streaming writer and the metadata summaries. */
export * from './types.js';
export { parseGGUF, readGGUFFile, readGGUFFileSync, MAX_HEADER_WINDOW, type ReadOptions } from './reader.js';
export type { GGUFFile, GGUFTensorInfo } from './parser.js';
export { writeGGUF, fileRange, layoutGGUF, alignUp } from './writer.js';
export type { GGUFWriteSpec, GGUFWriteTensor, GGUFWriteTarget, GGUFLayout, GGUFTensorSpec, TensorSource } from './writer.js';
export * from './metadata.js';
