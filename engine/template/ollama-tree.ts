/**
 * The three tree operations Ollama's template layer performs on a parsed template:
 * listing the identifiers it mentions, appending `{{ .Response }}`, and cutting
 * everything after the first `.Response` for the last legacy turn.
 */
import type { Node, Operand, Pipeline, Tree } from './ast.js';

/**
 * Every field and variable name the template mentions, lower-cased (Ollama's
 * `Template.Vars`). Walks the main body and every definition: action and
 * branch pipelines, branch bodies, `{{template}}` arguments and parenthesized
 * pipelines; `$.Messages` contributes `$` and `messages`.
 */
export function templateVars(tree: Tree): Set<string> {
  const names = new Set<string>();
  const fromPipe = (pipe: Pipeline | null): void => {
    for (const cmd of pipe?.cmds ?? []) for (const arg of cmd.args) fromOperand(arg);
  };
  const fromOperand = (op: Operand): void => {
    if (op.kind === 'field') op.idents.forEach((n) => names.add(n.toLowerCase()));
    else if (op.kind === 'variable') [op.name, ...op.idents].forEach((n) => names.add(n.toLowerCase()));
    else if (op.kind === 'pipe') fromPipe(op.pipe);
  };
  const fromNodes = (nodes: Node[]): void => {
    for (const n of nodes) {
      switch (n.kind) {
        case 'action':
        case 'template':
          fromPipe(n.pipe);
          break;
        case 'if':
        case 'with':
        case 'range':
          fromPipe(n.pipe);
          fromNodes(n.list);
          if (n.elseList) fromNodes(n.elseList);
          break;
      }
    }
  };
  fromNodes(tree.root);
  for (const body of tree.defines.values()) fromNodes(body);
  return names;
}

/** `{{ .Response }}`, which Ollama appends to templates that mention neither Messages nor Response. */
export function responseAction(pos: number): Node {
  const field: Operand = { kind: 'field', pos, idents: ['Response'] };
  return { kind: 'action', pos, pipe: { pos, end: pos, decl: [], isAssign: false, cmds: [{ pos, end: pos, args: [field] }] } };
}

/**
 * The main body with everything after the first `.Response` field removed, so
 * the last legacy turn ends right where the assistant's text goes and the
 * model continues it. Like Ollama's `deleteNode`: the walk visits text and
 * actions in order and descends into branch bodies, but not into branch
 * conditions (`{{ if .Response }}` does not cut); only field nodes count
 * (`$.Response` does not cut); a pipeline command left without arguments
 * drops its whole action. Where Ollama would panic (the cut starts inside a
 * branch that has an `{{else}}`), the else body is dropped.
 */
export function cutAfterResponse(nodes: Node[]): Node[] {
  const state = { cut: false };

  const cutPipe = (pipe: Pipeline): Pipeline | null => {
    const cmds = [];
    for (const cmd of pipe.cmds) {
      const args: Operand[] = [];
      for (const arg of cmd.args) {
        const kept = cutArg(arg);
        if (kept) args.push(kept);
      }
      if (args.length === 0) return null;
      cmds.push({ ...cmd, args });
    }
    return cmds.length === 0 ? null : { ...pipe, cmds };
  };

  const cutArg = (arg: Operand): Operand | null => {
    if (arg.kind === 'field' && arg.idents.includes('Response')) {
      state.cut = true;
      return arg;
    }
    if (state.cut) return null;
    if (arg.kind === 'pipe') {
      const pipe = cutPipe(arg.pipe);
      return pipe ? { ...arg, pipe } : null;
    }
    return arg;
  };

  const cutList = (list: Node[]): Node[] => {
    const out: Node[] = [];
    for (const n of list) {
      if (state.cut) break;
      switch (n.kind) {
        case 'action': {
          const pipe = cutPipe(n.pipe);
          if (pipe) out.push({ ...n, pipe });
          break;
        }
        case 'if':
        case 'with':
        case 'range': {
          const body = cutList(n.list);
          const elseList = n.elseList && !state.cut ? cutList(n.elseList) : n.elseList ? [] : null;
          out.push({ ...n, list: body, elseList });
          break;
        }
        default:
          out.push(n);
      }
    }
    return out;
  };

  return cutList(nodes);
}
