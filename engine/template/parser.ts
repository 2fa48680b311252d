/**
 * Parser for Go text/template: turns the token stream into a `Tree`.
 *
 * It enforces what Go's parser enforces at parse time, so a template that Go
 * rejects is rejected here too, with `template:LINE:COL:`: unknown functions,
 * undeclared variables, `{{break}}`/`{{continue}}` outside `{{range}}`, stray
 * `{{end}}`/`{{else}}`, non-executable pipeline stages, and duplicate non-empty
 * `{{define}}`s. `{{else if}}` and `{{else with}}` share the `{{end}}` of the
 * construct they continue.
 */
import type { Branch, Command, Node, Operand, Pipeline, Tree } from './ast.js';
import { lex, type Token, type TokenType } from './lexer.js';
import { templateError } from './position.js';
import { unquoteChar, unquoteString, parseNumber } from './literals.js';

export interface ParseOptions {
  /** Names callable as functions; parse fails on any other identifier. */
  isFunction: (name: string) => boolean;
}

type EndMarker = { kind: 'end'; pos: number } | { kind: 'else'; pos: number; chained: 'if' | 'with' | null };

/** Deepest nesting of control structures and parentheses; deeper input would exhaust the JS stack. */
export const MAX_NESTING = 200;

const OPERAND_START = new Set<TokenType>([
  'bool', 'char', 'dot', 'field', 'identifier', 'number', 'nil', 'rawString', 'string', 'variable', 'leftParen',
]);

export function parseTree(source: string, opts: ParseOptions): Tree {
  return new Parser(source, opts).parse();
}

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private nesting = 0;
  private readonly defines = new Map<string, Node[]>();

  constructor(
    private readonly src: string,
    private readonly opts: ParseOptions,
  ) {
    this.tokens = lex(src);
  }

  parse(): Tree {
    const root: Node[] = [];
    for (;;) {
      const t = this.peek();
      if (t.type === 'eof') break;
      if (t.type === 'leftDelim') {
        const save = this.i;
        this.next();
        const kw = this.nextNonSpace();
        if (kw.type === 'keyword' && kw.value === 'define') {
          this.parseDefinition();
          continue;
        }
        this.i = save;
      }
      const item = this.textOrAction();
      if (item.kind === 'end' || item.kind === 'else') {
        throw this.error(item.pos, `unexpected {{${item.kind}}}`);
      }
      root.push(item);
    }
    return { source: this.src, root, defines: this.defines };
  }

  // ---- token helpers ----

  private next(): Token {
    return this.tokens[this.i < this.tokens.length - 1 ? this.i++ : this.i];
  }
  private peek(): Token {
    return this.tokens[this.i];
  }
  private nextNonSpace(): Token {
    let t = this.next();
    while (t.type === 'space') t = this.next();
    return t;
  }
  private peekNonSpace(): Token {
    const save = this.i;
    const t = this.nextNonSpace();
    this.i = save;
    return t;
  }
  private expect(type: TokenType, context: string): Token {
    const t = this.nextNonSpace();
    if (t.type !== type) throw this.unexpected(t, context);
    return t;
  }
  private error(pos: number, message: string) {
    return templateError(this.src, pos, message);
  }
  private unexpected(t: Token, context: string) {
    const what = t.type === 'eof' ? 'EOF' : JSON.stringify(t.value);
    return this.error(t.pos, `unexpected ${what} in ${context}`);
  }

  // ---- structure ----

  /** One text run or action; control keywords are parsed fully. */
  private textOrAction(): Node | EndMarker {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'text':
        return { kind: 'text', pos: t.pos, text: t.value };
      case 'leftDelim':
        return this.action();
      case 'eof':
        throw this.error(t.pos, 'unexpected EOF');
      default:
        throw this.unexpected(t, 'input');
    }
  }

  private action(): Node | EndMarker {
    const t = this.peekNonSpace();
    if (t.type === 'keyword') {
      this.nextNonSpace();
      switch (t.value) {
        case 'block':
          return this.blockControl(t);
        case 'break':
        case 'continue':
          return this.loopControl(t);
        case 'else':
          return this.elseControl(t);
        case 'end':
          this.expect('rightDelim', 'end');
          return { kind: 'end', pos: t.pos };
        case 'if':
          return { kind: 'if', ...this.parseControl('if', t.pos) };
        case 'range':
          return { kind: 'range', ...this.parseControl('range', t.pos) };
        case 'with':
          return { kind: 'with', ...this.parseControl('with', t.pos) };
        case 'template':
          return this.templateControl(t);
        case 'define':
          throw this.error(t.pos, 'unexpected {{define}}: definitions are only allowed at top level');
      }
    }
    return { kind: 'action', pos: t.pos, pipe: this.pipeline('command', 'rightDelim') };
  }

  /** Nodes until `{{end}}` or `{{else}}`; EOF is an error. */
  private itemList(): { list: Node[]; end: EndMarker } {
    const list: Node[] = [];
    for (;;) {
      if (this.peekNonSpace().type === 'eof') throw this.error(this.peekNonSpace().pos, 'unexpected EOF');
      const n = this.textOrAction();
      if (n.kind === 'end' || n.kind === 'else') return { list, end: n };
      list.push(n);
    }
  }

  private parseControl(context: 'if' | 'range' | 'with', pos: number): Branch {
    const mark = this.vars.length;
    this.enter(pos);
    try {
      const pipe = this.pipeline(context, 'rightDelim');
      if (context === 'range') this.rangeDepth++;
      const body = this.itemList();
      if (context === 'range') this.rangeDepth--;
      let elseList: Node[] | null = null;
      if (body.end.kind === 'else') {
        const chained = body.end.chained;
        if (chained !== null) {
          if (chained !== context) {
            throw this.error(body.end.pos, `{{else ${chained}}} cannot continue {{${context}}}`);
          }
          // `{{else if x}}` ≡ `{{else}}{{if x}}…{{end}}`, sharing the outer {{end}}.
          const kw = this.nextNonSpace();
          elseList = [{ kind: context, ...this.parseControl(context, kw.pos) } as Node];
        } else {
          const rest = this.itemList();
          if (rest.end.kind !== 'end') throw this.error(rest.end.pos, 'expected end; found {{else}}');
          elseList = rest.list;
        }
      }
      return { pos, pipe, list: body.list, elseList };
    } finally {
      this.vars.length = mark;
      this.nesting--;
    }
  }

  private enter(pos: number): void {
    if (++this.nesting > MAX_NESTING) throw this.error(pos, `exceeded maximum nesting depth (${MAX_NESTING})`);
  }

  private elseControl(t: Token): EndMarker {
    const peek = this.peekNonSpace();
    if (peek.type === 'keyword' && (peek.value === 'if' || peek.value === 'with')) {
      return { kind: 'else', pos: t.pos, chained: peek.value };
    }
    this.expect('rightDelim', 'else');
    return { kind: 'else', pos: t.pos, chained: null };
  }

  private loopControl(t: Token): Node {
    this.expect('rightDelim', `{{${t.value}}}`);
    if (this.rangeDepth === 0) throw this.error(t.pos, `{{${t.value}}} outside {{range}}`);
    return { kind: t.value as 'break' | 'continue', pos: t.pos };
  }

  private templateName(context: string): string {
    const t = this.nextNonSpace();
    if (t.type !== 'string' && t.type !== 'rawString') throw this.unexpected(t, context);
    return this.stringValue(t);
  }

  private templateControl(t: Token): Node {
    const name = this.templateName('template clause');
    let pipe: Pipeline | null = null;
    if (this.peekNonSpace().type !== 'rightDelim') pipe = this.pipeline('template clause', 'rightDelim');
    else this.nextNonSpace();
    return { kind: 'template', pos: t.pos, name, pipe };
  }

  /** `{{block "name" pipeline}} body {{end}}` defines `name` and invokes it in place. */
  private blockControl(t: Token): Node {
    const name = this.templateName('block clause');
    const pipe = this.pipeline('block clause', 'rightDelim');
    const outerVars = this.vars;
    const outerDepth = this.rangeDepth;
    this.vars = ['$'];
    this.rangeDepth = 0;
    const body = this.itemList();
    this.vars = outerVars;
    this.rangeDepth = outerDepth;
    if (body.end.kind !== 'end') throw this.error(body.end.pos, 'unexpected {{else}} in block clause');
    this.addDefinition(name, body.list, t.pos);
    return { kind: 'template', pos: t.pos, name, pipe };
  }

  private parseDefinition(): void {
    const pos = this.tokens[this.i - 1].pos;
    const name = this.templateName('define clause');
    this.expect('rightDelim', 'define clause');
    const outerVars = this.vars;
    this.vars = ['$'];
    const body = this.itemList();
    this.vars = outerVars;
    if (body.end.kind !== 'end') throw this.error(body.end.pos, 'unexpected {{else}} in define clause');
    this.addDefinition(name, body.list, pos);
  }

  private addDefinition(name: string, body: Node[], pos: number): void {
    const old = this.defines.get(name);
    if (old === undefined || isEmpty(old)) this.defines.set(name, body);
    else if (!isEmpty(body)) throw this.error(pos, `template: multiple definition of template ${JSON.stringify(name)}`);
  }

  // ---- pipelines ----

  private pipeline(context: string, end: 'rightDelim' | 'rightParen'): Pipeline {
    const start = this.peekNonSpace().pos;
    const pipe: Pipeline = { pos: start, end: start, decl: [], isAssign: false, cmds: [] };
    this.declarations(pipe, context);
    for (;;) {
      const t = this.nextNonSpace();
      if (t.type === end) {
        pipe.end = t.pos;
        this.checkPipeline(pipe, context, t.pos);
        return pipe;
      }
      if (!OPERAND_START.has(t.type)) throw this.unexpected(t, context);
      this.i--;
      pipe.cmds.push(this.command(end));
    }
  }

  /** `$x :=`, `$x =`, and in `range` `$i, $v :=`. */
  private declarations(pipe: Pipeline, context: string): void {
    for (;;) {
      const v = this.peekNonSpace();
      if (v.type !== 'variable') return;
      const save = this.i;
      this.nextNonSpace();
      const op = this.peekNonSpace();
      if (op.type === 'declare' || op.type === 'assign') {
        this.nextNonSpace();
        pipe.isAssign = op.type === 'assign';
        if (pipe.isAssign) {
          for (const d of [...pipe.decl, v.value]) this.useVariable(d, v.pos);
        } else {
          for (const d of pipe.decl) this.vars.push(d);
          this.vars.push(v.value);
        }
        pipe.decl.push(v.value);
        return;
      }
      if (op.type === 'comma') {
        this.nextNonSpace();
        pipe.decl.push(v.value);
        if (context === 'range' && pipe.decl.length < 2) {
          if (this.peekNonSpace().type === 'variable') continue;
          throw this.error(op.pos, 'range can only initialize variables');
        }
        throw this.error(op.pos, `too many declarations in ${context}`);
      }
      // Not a declaration: the variable is the pipeline's first operand.
      this.i = save;
      if (pipe.decl.length > 0) throw this.error(v.pos, `missing := after variables in ${context}`);
      return;
    }
  }

  private checkPipeline(pipe: Pipeline, context: string, pos: number): void {
    if (pipe.cmds.length === 0) throw this.error(pos, `missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, k) => {
      const first = c.args[0].kind;
      if (first === 'bool' || first === 'dot' || first === 'nil' || first === 'number' || first === 'string') {
        throw this.error(c.pos, `non executable command in pipeline stage ${k + 2}`);
      }
    });
  }

  private command(end: 'rightDelim' | 'rightParen'): Command {
    const pos = this.peekNonSpace().pos;
    const cmd: Command = { pos, end: pos, args: [] };
    for (;;) {
      this.skipSpace();
      const op = this.operand();
      if (op) cmd.args.push(op);
      const t = this.next();
      switch (t.type) {
        case 'space':
          continue;
        case 'rightDelim':
        case 'rightParen':
          if (t.type !== end) throw this.unexpected(t, 'operand');
          this.i--;
          break;
        case 'pipe':
          break;
        default:
          throw this.unexpected(t, 'operand');
      }
      cmd.end = t.pos;
      if (cmd.args.length === 0) throw this.error(t.pos, 'empty command');
      return cmd;
    }
  }

  private skipSpace(): void {
    while (this.peek().type === 'space') this.next();
  }

  /** A term followed by any `.Field` chain. */
  private operand(): Operand | null {
    const term = this.term();
    if (!term) return null;
    if (this.peek().type !== 'field') return term;
    const idents: string[] = [];
    while (this.peek().type === 'field') idents.push(this.next().value.slice(1));
    switch (term.kind) {
      case 'field':
        return { kind: 'field', pos: term.pos, idents: [...term.idents, ...idents] };
      case 'variable':
        return { kind: 'variable', pos: term.pos, name: term.name, idents: [...term.idents, ...idents] };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        throw this.error(term.pos, `unexpected . after term ${JSON.stringify(this.src.slice(term.pos, this.peek().pos))}`);
      default:
        return { kind: 'chain', pos: term.pos, node: term, idents };
    }
  }

  private term(): Operand | null {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'identifier':
        if (!this.opts.isFunction(t.value)) throw this.error(t.pos, `function ${JSON.stringify(t.value)} not defined`);
        return { kind: 'identifier', pos: t.pos, name: t.value };
      case 'dot':
        return { kind: 'dot', pos: t.pos };
      case 'nil':
        return { kind: 'nil', pos: t.pos };
      case 'variable':
        this.useVariable(t.value, t.pos);
        return { kind: 'variable', pos: t.pos, name: t.value, idents: [] };
      case 'field':
        return { kind: 'field', pos: t.pos, idents: [t.value.slice(1)] };
      case 'bool':
        return { kind: 'bool', pos: t.pos, value: t.value === 'true' };
      case 'char':
      case 'number': {
        const value = t.type === 'char' ? this.charValue(t) : this.numberValue(t);
        return { kind: 'number', pos: t.pos, value, text: t.value };
      }
      case 'leftParen': {
        this.enter(t.pos);
        const pipe = this.pipeline('parenthesized pipeline', 'rightParen');
        this.nesting--;
        return { kind: 'pipe', pos: t.pos, pipe };
      }
      case 'string':
      case 'rawString':
        return { kind: 'string', pos: t.pos, value: this.stringValue(t) };
      default:
        this.i--;
        return null;
    }
  }

  private useVariable(name: string, pos: number): void {
    if (!this.vars.includes(name)) throw this.error(pos, `undefined variable ${JSON.stringify(name)}`);
  }

  private stringValue(t: Token): string {
    if (t.type === 'rawString') return t.value.slice(1, -1).replace(/\r/g, '');
    const s = unquoteString(t.value);
    if (s === null) throw this.error(t.pos, `invalid syntax in quoted string ${t.value}`);
    return s;
  }

  private charValue(t: Token): number {
    const c = unquoteChar(t.value);
    if (c === null) throw this.error(t.pos, `malformed character constant: ${t.value}`);
    return c;
  }

  private numberValue(t: Token): number {
    const n = parseNumber(t.value);
    if (typeof n === 'string') throw this.error(t.pos, n);
    return n;
  }
}

/** Go's IsEmptyTree: only white-space text (and nothing else) counts as empty. */
function isEmpty(nodes: Node[]): boolean {
  return nodes.every((n) => n.kind === 'text' && n.text.trim() === '');
}
