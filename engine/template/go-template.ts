/** A parsed Go text/template, ready to execute any number of times. */
import type { Tree } from './ast.js';
import { execute, type ExecOptions } from './exec.js';
import { isBuiltin } from './funcs.js';
import { parseTree } from './parser.js';

export class GoTemplate {
  constructor(readonly tree: Tree) {}

  get source(): string {
    return this.tree.source;
  }

  /** Render with `data` as dot (and `$`). Throws E_TEMPLATE on execution errors or exceeded limits. */
  execute(data: unknown, opts?: ExecOptions): string {
    return execute(this.tree, data, opts);
  }

  /** A template over another tree with the same definitions (Ollama rewrites trees). */
  withRoot(root: Tree['root']): GoTemplate {
    return new GoTemplate({ ...this.tree, root });
  }
}

/** Parse Go text/template source. Throws E_TEMPLATE with `template:LINE:COL:` on a syntax error. */
export function parseGoTemplate(text: string): GoTemplate {
  return new GoTemplate(parseTree(text, { isFunction: isBuiltin }));
}
