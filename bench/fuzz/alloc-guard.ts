/**
 * The over-allocation check. A parser that trusts a length or count field
 * allocates what the field says; the guard sees every such allocation before
 * it happens and refuses any single one above the current input's budget.
 *
 * It replaces the global ArrayBuffer, typed-array and Array constructors with
 * proxies (module code looks the globals up at call time, Node's internals use
 * their own primordials and are untouched), and wraps Buffer.alloc*,
 * Buffer.from and Buffer.concat. An allocation over budget throws
 * OverAllocationError instead of happening, and is remembered even if the
 * parser catches the throw. Allocations made inside native code or as strings
 * are not seen here; the runner's heap check and the worker's memory limit
 * stand behind it for those.
 */

export class OverAllocationError extends RangeError {
  override name = 'OverAllocationError';
}

let limit = Infinity;
let seen: string | undefined;

/** Sets the budget for the next input (Infinity: no check) and clears the last finding. */
export function setAllocBudget(bytes: number): void {
  limit = bytes;
  seen = undefined;
}

/** The over-budget allocation attempted since `setAllocBudget`, if any. */
export function overAllocation(): string | undefined {
  return seen;
}

function check(bytes: number, what: string): void {
  if (bytes > limit) {
    seen ??= `${what} of ${bytes} bytes (budget ${limit})`;
    throw new OverAllocationError(seen);
  }
}

function sizeOf(arg: unknown, per: number): number {
  if (typeof arg === 'number') return arg * per;
  if (typeof arg === 'bigint') return Number(arg) * per;
  if (arg instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && arg instanceof SharedArrayBuffer)) return 0; // a view
  if (arg && typeof arg === 'object' && typeof (arg as { length?: unknown }).length === 'number') return (arg as { length: number }).length * per;
  return 0;
}

let installed = false;

export function installAllocGuard(): void {
  if (installed) return;
  installed = true;
  const g = globalThis as unknown as Record<string, unknown>;
  const typed = ['Uint8Array', 'Int8Array', 'Uint8ClampedArray', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'];
  for (const name of typed) {
    const C = g[name] as { BYTES_PER_ELEMENT: number } & (new (...a: unknown[]) => object);
    g[name] = new Proxy(C, {
      construct(t, args, nt) {
        check(sizeOf(args[0], C.BYTES_PER_ELEMENT), `new ${name}`);
        return Reflect.construct(t, args, nt);
      },
    });
  }
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer']) {
    const C = g[name] as new (...a: unknown[]) => object;
    g[name] = new Proxy(C, {
      construct(t, args, nt) {
        check(sizeOf(args[0], 1), `new ${name}`);
        return Reflect.construct(t, args, nt);
      },
    });
  }
  const A = Array;
  const arrayLen = (args: unknown[]) => (args.length === 1 && typeof args[0] === 'number' ? args[0] * 8 : 0);
  g.Array = new Proxy(A, {
    construct(t, args, nt) {
      check(arrayLen(args), 'new Array');
      return Reflect.construct(t, args, nt);
    },
    apply(t, self, args) {
      check(arrayLen(args), 'Array()');
      return Reflect.apply(t, self, args);
    },
  });
  const B = Buffer as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) {
    const f = B[name];
    B[name] = function (this: unknown, ...args: unknown[]) {
      check(sizeOf(args[0], 1), `Buffer.${name}`);
      return f.apply(this, args);
    };
  }
  const from = B.from;
  B.from = function (this: unknown, ...args: unknown[]) {
    if (!(args[0] instanceof ArrayBuffer)) check(typeof args[0] === 'string' ? args[0].length * 3 : sizeOf(args[0], 1), 'Buffer.from');
    return from.apply(this, args);
  };
  const concat = B.concat;
  B.concat = function (this: unknown, ...args: unknown[]) {
    const list = args[0] as { length: number }[];
    check(typeof args[1] === 'number' ? args[1] : list.reduce((s, x) => s + x.length, 0), 'Buffer.concat');
    return concat.apply(this, args);
  };
}
