/**
 * The parse tree of a Go text/template. `pos`/`end` are offsets into the
 * template source, kept so execution errors can point at the action and quote it.
 */

export type Node =
  | TextNode
  | ActionNode
  | IfNode
  | RangeNode
  | WithNode
  | TemplateNode
  | BreakNode
  | ContinueNode;

export interface TextNode {
  kind: 'text';
  pos: number;
  text: string;
}

/** `{{ pipeline }}`: prints the value unless the pipeline declares or assigns variables. */
export interface ActionNode {
  kind: 'action';
  pos: number;
  pipe: Pipeline;
}

export interface Branch {
  pos: number;
  pipe: Pipeline;
  list: Node[];
  /** `{{else}}` body; an `{{else if}}` / `{{else with}}` chain is a single nested node here. */
  elseList: Node[] | null;
}

export interface IfNode extends Branch {
  kind: 'if';
}
export interface WithNode extends Branch {
  kind: 'with';
}
export interface RangeNode extends Branch {
  kind: 'range';
}

/** `{{template "name" pipeline}}` (also what `{{block}}` leaves in place). */
export interface TemplateNode {
  kind: 'template';
  pos: number;
  name: string;
  pipe: Pipeline | null;
}

export interface BreakNode {
  kind: 'break';
  pos: number;
}
export interface ContinueNode {
  kind: 'continue';
  pos: number;
}

export interface Pipeline {
  pos: number;
  end: number;
  /** Variables declared (`:=`) or assigned (`=`) by this pipeline, without the `$`-less forms. */
  decl: string[];
  isAssign: boolean;
  cmds: Command[];
}

export interface Command {
  pos: number;
  end: number;
  args: Operand[];
}

export type Operand =
  | { kind: 'field'; pos: number; idents: string[] }
  | { kind: 'variable'; pos: number; name: string; idents: string[] }
  | { kind: 'chain'; pos: number; node: Operand; idents: string[] }
  | { kind: 'identifier'; pos: number; name: string }
  | { kind: 'dot'; pos: number }
  | { kind: 'nil'; pos: number }
  | { kind: 'bool'; pos: number; value: boolean }
  | { kind: 'number'; pos: number; value: number; text: string }
  | { kind: 'string'; pos: number; value: string }
  | { kind: 'pipe'; pos: number; pipe: Pipeline };

/** A parsed template: the main body plus every `{{define}}`/`{{block}}` body, by name. */
export interface Tree {
  source: string;
  root: Node[];
  defines: Map<string, Node[]>;
}
