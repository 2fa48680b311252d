/** Source positions and the E_TEMPLATE error every template stage throws. */
import { KilnError } from '../../common/errors.js';

export interface LineCol {
  line: number;
  col: number;
}

/** 1-based line and column (in UTF-16 code units) of `offset` in `src`. */
export function lineCol(src: string, offset: number): LineCol {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}

/** `template:LINE:COL: message`, the shape of Go's template errors with a column added. */
export function templateError(src: string, offset: number, message: string): KilnError {
  const { line, col } = lineCol(src, offset);
  return new KilnError('E_TEMPLATE', `template:${line}:${col}: ${message}`);
}
