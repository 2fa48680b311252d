/**
 * Executes a parsed Go template against a value, with Go's semantics for dot,
 * variables, fields, pipelines (the previous stage's value becomes the last
 * argument), `if`/`with`/`range` (with `else`, `break`, `continue`) and
 * `template` calls.
 *
 * Execution always terminates: every node, range iteration and command costs
 * a step against `maxSteps`, output and every string a function returns are
 * capped at `maxOutput` characters, and `{{template}}` recursion is capped at
 * `maxDepth`. A template has no other way to loop (ranges walk finite values),
 * so those three bounds cover time and memory. Breaching one is E_TEMPLATE.
 */
import type { Command, Node, Operand, Pipeline, RangeNode, Tree, IfNode, WithNode, TemplateNode } from './ast.js';
import { BUILTINS, FuncError, type FuncContext } from './funcs.js';
import { templateError } from './position.js';
import { formatValue, kindOf, sortedKeys, structType, truth, typeName } from './values.js';

export interface ExecOptions {
  /** Most characters the output may hold (default 16 Mi). */
  maxOutput?: number;
  /** Most evaluation steps: nodes, commands and range iterations (default 10 M). */
  maxSteps?: number;
  /** Deepest `{{template}}` nesting (default 100). */
  maxDepth?: number;
  /** Clock for `currentDate` (tests pin it). */
  now?: () => Date;
}

export const DEFAULT_LIMITS = { maxOutput: 16 << 20, maxSteps: 10_000_000, maxDepth: 100 } as const;

const NO_FINAL: unique symbol = Symbol('no final value');
type Final = unknown | typeof NO_FINAL;

class BreakSignal {}
class ContinueSignal {}
const BREAK = new BreakSignal();
const CONTINUE = new ContinueSignal();

interface Variable {
  name: string;
  value: unknown;
}

export function execute(tree: Tree, data: unknown, opts: ExecOptions = {}): string {
  const state = new State(tree, opts);
  state.vars = [{ name: '$', value: data }];
  state.walk(data, tree.root);
  return state.out.join('');
}

class State {
  readonly out: string[] = [];
  vars: Variable[] = [];
  private outLen = 0;
  private steps = 0;
  private depth = 0;
  private readonly maxOutput: number;
  private readonly maxSteps: number;
  private readonly maxDepth: number;
  private readonly ctx: FuncContext;
  /** The command being evaluated, quoted in error messages as Go does ("at <.Foo>"). */
  private at: Command | null = null;

  constructor(
    private readonly tree: Tree,
    opts: ExecOptions,
  ) {
    this.maxOutput = opts.maxOutput ?? DEFAULT_LIMITS.maxOutput;
    this.maxSteps = opts.maxSteps ?? DEFAULT_LIMITS.maxSteps;
    this.maxDepth = opts.maxDepth ?? DEFAULT_LIMITS.maxDepth;
    this.ctx = { now: opts.now ?? (() => new Date()) };
  }

  private fail(pos: number, message: string): never {
    const at = this.at ? `executing at <${this.tree.source.slice(this.at.pos, this.at.end).trim()}>: ` : '';
    throw templateError(this.tree.source, pos, at + message);
  }

  private step(pos: number): void {
    if (++this.steps > this.maxSteps) this.fail(pos, `execution exceeded ${this.maxSteps} steps`);
  }

  private write(s: string, pos: number): void {
    this.outLen += s.length;
    if (this.outLen > this.maxOutput) this.fail(pos, `output exceeds ${this.maxOutput} characters`);
    this.out.push(s);
  }

  // ---- statements ----

  walk(dot: unknown, nodes: Node[]): void {
    for (const node of nodes) {
      this.step(node.pos);
      switch (node.kind) {
        case 'text':
          this.write(node.text, node.pos);
          break;
        case 'action': {
          const v = this.evalPipeline(dot, node.pipe);
          if (node.pipe.decl.length === 0) this.write(this.printable(v, node.pos), node.pos);
          break;
        }
        case 'if':
        case 'with':
          this.walkIfOrWith(node, dot);
          break;
        case 'range':
          this.walkRange(node, dot);
          break;
        case 'template':
          this.walkTemplate(node, dot);
          break;
        case 'break':
          throw BREAK;
        case 'continue':
          throw CONTINUE;
      }
    }
  }

  /** What an action writes: Go prints a missing or nil value as "<no value>". */
  private printable(v: unknown, pos: number): string {
    if (v === undefined || v === null) return '<no value>';
    if (typeof v === 'function') this.fail(pos, `can't print value of type func`);
    return formatValue(v);
  }

  private walkIfOrWith(node: IfNode | WithNode, dot: unknown): void {
    const mark = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      if (truth(val)) this.walk(node.kind === 'with' ? val : dot, node.list);
      else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(node: RangeNode, dot: unknown): void {
    const mark = this.vars.length;
    const { decl, isAssign } = node.pipe;
    const val = this.evalCommands(dot, node.pipe);
    const one = (key: unknown, elem: unknown): void => {
      this.step(node.pos);
      const inner = this.vars.length;
      if (decl.length > 0) {
        const [first, second] = decl;
        if (isAssign) {
          this.setVar(first, decl.length > 1 ? key : elem, node.pos);
          if (second !== undefined) this.setVar(second, elem, node.pos);
        } else {
          this.vars.push({ name: first, value: decl.length > 1 ? key : elem });
          if (second !== undefined) this.vars.push({ name: second, value: elem });
        }
      }
      try {
        this.walk(elem, node.list);
      } catch (e) {
        if (e !== CONTINUE) throw e;
      } finally {
        this.vars.length = inner;
      }
    };
    try {
      const k = kindOf(val);
      if (k === 'slice') {
        const items = [...(val as unknown[])];
        if (items.length === 0) return this.walkElse(node, dot);
        items.forEach((item, i) => one(i, item));
      } else if (k === 'map') {
        const m = val as Record<string, unknown>;
        const keys = sortedKeys(m);
        if (keys.length === 0) return this.walkElse(node, dot);
        for (const key of keys) one(key, m[key]);
      } else if (k === 'int') {
        // Go 1.22: range over an integer n yields 0..n-1.
        if (decl.length > 1) this.fail(node.pos, `can't use ${formatValue(val)} to iterate over more than one variable`);
        const n = Number(val);
        if (n <= 0) return this.walkElse(node, dot);
        for (let i = 0; i < n; i++) one(i, i);
      } else if (k === 'invalid' || k === 'nil') {
        this.walkElse(node, dot);
      } else {
        this.fail(node.pos, `range can't iterate over ${formatValue(val)}`);
      }
    } catch (e) {
      if (e !== BREAK) throw e;
    } finally {
      this.vars.length = mark;
    }
  }

  private walkElse(node: RangeNode, dot: unknown): void {
    if (node.elseList) this.walk(dot, node.elseList);
  }

  private walkTemplate(node: TemplateNode, dot: unknown): void {
    const body = this.tree.defines.get(node.name);
    if (!body) this.fail(node.pos, `template: no such template ${JSON.stringify(node.name)}`);
    const newDot = node.pipe ? this.evalPipeline(dot, node.pipe) : undefined;
    if (this.depth >= this.maxDepth) this.fail(node.pos, `exceeded maximum template depth (${this.maxDepth})`);
    const saved = this.vars;
    this.vars = [{ name: '$', value: newDot }];
    this.depth++;
    try {
      this.walk(newDot, body);
    } finally {
      this.vars = saved;
      this.depth--;
    }
  }

  // ---- variables ----

  private lookup(name: string, pos: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i].name === name) return this.vars[i].value;
    return this.fail(pos, `undefined variable: ${name}`);
  }

  private setVar(name: string, value: unknown, pos: number): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) {
        this.vars[i].value = value;
        return;
      }
    }
    this.fail(pos, `undefined variable: ${name}`);
  }

  // ---- expressions ----

  /** Evaluate the commands of a pipeline, threading each result into the next. */
  private evalCommands(dot: unknown, pipe: Pipeline): unknown {
    let value: Final = NO_FINAL;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    return value === NO_FINAL ? undefined : value;
  }

  private evalPipeline(dot: unknown, pipe: Pipeline): unknown {
    const value = this.evalCommands(dot, pipe);
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, value, pipe.pos);
      else this.vars.push({ name, value });
    }
    return value;
  }

  private evalCommand(dot: unknown, cmd: Command, final: Final): unknown {
    this.step(cmd.pos);
    const outer = this.at;
    this.at = cmd;
    try {
      const first = cmd.args[0];
      switch (first.kind) {
        case 'field':
          return this.evalFieldChain(dot, dot, first.pos, first.idents, cmd.args, final);
        case 'chain':
          return this.evalChain(dot, first, cmd.args, final);
        case 'identifier':
          return this.evalFunction(dot, first.name, first.pos, cmd.args, final);
        case 'variable':
          return this.evalVariable(dot, first, cmd.args, final);
        case 'pipe':
          this.notAFunction(cmd.args, final);
          return this.evalPipeline(dot, first.pipe);
      }
      this.notAFunction(cmd.args, final);
      switch (first.kind) {
        case 'dot':
          return dot;
        case 'nil':
          return this.fail(first.pos, 'nil is not a command');
        default:
          return first.value;
      }
    } finally {
      this.at = outer;
    }
  }

  private notAFunction(args: Operand[], final: Final): void {
    if (args.length > 1 || final !== NO_FINAL) {
      this.fail(args[0].pos, `can't give argument to non-function ${this.tree.source.slice(args[0].pos).split(/[\s|)}]/)[0]}`);
    }
  }

  private evalArg(dot: unknown, node: Operand): unknown {
    switch (node.kind) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'field':
        return this.evalFieldChain(dot, dot, node.pos, node.idents, [node], NO_FINAL);
      case 'variable':
        return this.evalVariable(dot, node, [node], NO_FINAL);
      case 'chain':
        return this.evalChain(dot, node, [node], NO_FINAL);
      case 'pipe':
        return this.evalPipeline(dot, node.pipe);
      case 'identifier':
        return this.evalFunction(dot, node.name, node.pos, [node], NO_FINAL);
      default:
        return node.value;
    }
  }

  private evalVariable(dot: unknown, node: Extract<Operand, { kind: 'variable' }>, args: Operand[], final: Final): unknown {
    const value = this.lookup(node.name, node.pos);
    if (node.idents.length === 0) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, node.pos, node.idents, args, final);
  }

  private evalChain(dot: unknown, node: Extract<Operand, { kind: 'chain' }>, args: Operand[], final: Final): unknown {
    if (node.node.kind === 'nil') this.fail(node.pos, 'indirection through explicit nil');
    const receiver = this.evalArg(dot, node.node);
    return this.evalFieldChain(dot, receiver, node.pos, node.idents, args, final);
  }

  private evalFieldChain(dot: unknown, receiver: unknown, pos: number, idents: string[], args: Operand[], final: Final): unknown {
    let r = receiver;
    for (let i = 0; i < idents.length - 1; i++) r = this.evalField(dot, idents[i], pos, [args[0]], NO_FINAL, r);
    return this.evalField(dot, idents[idents.length - 1], pos, args, final, r);
  }

  private evalField(dot: unknown, name: string, pos: number, args: Operand[], final: Final, receiver: unknown): unknown {
    const hasArgs = args.length > 1 || final !== NO_FINAL;
    const k = kindOf(receiver);
    if (k === 'invalid' || k === 'nil') return undefined; // Go: a field of nil data is the zero value
    if (k === 'map') {
      if (hasArgs) this.fail(pos, `${name} is not a method but has arguments`);
      const m = receiver as Record<string, unknown>;
      return Object.prototype.hasOwnProperty.call(m, name) ? m[name] : undefined;
    }
    if (k === 'struct') {
      const obj = receiver as Record<string, unknown>;
      const known = structType(obj) ? Object.prototype.hasOwnProperty.call(obj, name) : name in obj;
      if (known) {
        const v = obj[name];
        if (typeof v === 'function' && !structType(obj)) {
          // A method on a foreign object: called with the remaining arguments, as Go calls methods.
          const callArgs = args.slice(1).map((a) => this.evalArg(dot, a));
          if (final !== NO_FINAL) callArgs.push(final);
          return (v as (...a: unknown[]) => unknown).apply(obj, callArgs);
        }
        if (hasArgs) this.fail(pos, `${name} has arguments but cannot be invoked as function`);
        return v;
      }
    }
    return this.fail(pos, `can't evaluate field ${name} in type ${typeName(receiver)}`);
  }

  private evalFunction(dot: unknown, name: string, pos: number, args: Operand[], final: Final): unknown {
    const f = BUILTINS[name];
    if (!f) return this.fail(pos, `function ${JSON.stringify(name)} not defined`);
    const argNodes = args.slice(1);
    const count = argNodes.length + (final === NO_FINAL ? 0 : 1);
    if (count < f.minArgs || count > f.maxArgs) {
      const want = f.minArgs === f.maxArgs ? `${f.minArgs}` : `at least ${f.minArgs}`;
      this.fail(pos, `wrong number of args for ${name}: want ${want} got ${count}`);
    }
    if (name === 'and' || name === 'or') {
      // Short-circuit: stop at the first argument that decides the result.
      let v: unknown;
      for (const a of argNodes) {
        v = this.evalArg(dot, a);
        if (truth(v) === (name === 'or')) return v;
      }
      return final === NO_FINAL ? v : final;
    }
    const vals = argNodes.map((a) => this.evalArg(dot, a));
    if (final !== NO_FINAL) vals.push(final);
    let result: unknown;
    try {
      result = f.call(vals, this.ctx);
    } catch (e) {
      if (e instanceof FuncError) this.fail(pos, `error calling ${name}: ${e.message}`);
      throw e;
    }
    if (typeof result === 'string' && result.length > this.maxOutput) {
      this.fail(pos, `${name} result exceeds ${this.maxOutput} characters`);
    }
    return result;
  }
}
