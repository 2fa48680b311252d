/**
 * The three tree operations Ollama's template layer performs on a parsed template:
 * listing the identifiers it mentions, appending `{{ .Response }}`, and cutting
 * everything after the first `.Response` for the last legacy turn.
 */
import type { Branch, Node, Operand, Pipeline, Tree } from './ast.js';

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

/** The text a model wraps its reasoning in, e.g. `<think>` and `</think>`. */
export interface ThinkingTags {
  open: string;
  close: string;
}

/**
 * The thinking tags a template shows past reasoning with, inferred the way
 * Ollama's `thinking.InferTags` does: find `.Thinking` (a field, not
 * `$m.Thinking`) inside a `range` over `.Messages`, take the innermost list of
 * nodes around it, and read its first and last text nodes, trimmed, as the
 * opening and closing tags. Later mentions override earlier ones, each tag
 * only where that list has text at that end. Undefined unless both are found:
 * such a template has no "thinking" capability.
 */
export function inferThinkingTags(tree: Tree): ThinkingTags | undefined {
  let open = '';
  let close = '';
  const mentions = (pipe: Pipeline | null, field: string): boolean =>
    (pipe?.cmds ?? []).some((c) => c.args.some((a) => (a.kind === 'field' && a.idents[0] === field) || (a.kind === 'pipe' && mentions(a.pipe, field))));
  const readEnds = (list: Node[]): void => {
    const first = list[0];
    const last = list[list.length - 1];
    if (first?.kind === 'text') open = first.text.trim();
    if (last?.kind === 'text') close = last.text.trim();
  };
  // `list` is the innermost list holding the node whose pipeline this is; `range` the innermost enclosing range.
  const inPipe = (pipe: Pipeline | null, list: Node[], range: Branch | null): void => {
    for (const cmd of pipe?.cmds ?? []) {
      for (const a of cmd.args) {
        if (a.kind === 'field' && a.idents[0] === 'Thinking') {
          if (range && mentions(range.pipe, 'Messages')) readEnds(list);
        } else if (a.kind === 'pipe') inPipe(a.pipe, list, range);
      }
    }
  };
  const walk = (list: Node[], range: Branch | null): void => {
    for (const n of list) {
      switch (n.kind) {
        case 'action':
        case 'template':
          inPipe(n.pipe, list, range);
          break;
        case 'if':
        case 'with':
        case 'range': {
          const inner = n.kind === 'range' ? n : range;
          inPipe(n.pipe, list, inner);
          walk(n.list, inner);
          if (n.elseList) walk(n.elseList, inner);
          break;
        }
      }
    }
  };
  walk(tree.root, null);
  return open && close ? { open, close } : undefined;
}
