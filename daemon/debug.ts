/**
 * KILN_DEBUG=1 (as OLLAMA_DEBUG): extra log lines, each prefixed `debug:`,
 * for every request (method, path, status, time to the response head), the
 * settings in effect at start, and each runner's start. Without it, none.
 */
import type { MiddlewareHandler } from 'hono';
import { SETTINGS, type Setting } from '../settings/settings.js';
import type { SchedulerOptions } from './scheduler/scheduler.js';
import { kvTypesName } from '../common/kv-cache.js';

export type Log = (m: string) => void;

/** A logger for debug lines, or undefined when KILN_DEBUG is off (callers skip the work). */
export function debugLogger(debug: boolean, log: Log): Log | undefined {
  return debug ? (m) => log(`debug: ${m}`) : undefined;
}

/** One line per request: transport, method, path, status and milliseconds to the response head. */
export function requestLog(debug: Log, transport: string): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      const ms = (performance.now() - t0).toFixed(1);
      debug(`${transport} ${c.req.method} ${c.req.path} ${c.res.status} ${ms}ms`);
    }
  };
}

/** The settings that were set in the environment (the rest are at their defaults). */
export function logSettings(debug: Log, env: Readonly<Record<string, string | undefined>> = process.env): void {
  const set = (Object.values(SETTINGS) as Setting<unknown>[]).filter((s) => env[s.env]?.trim()).map((s) => `${s.env}=${env[s.env]!.trim()}`);
  debug(`settings: ${set.length ? set.join(' ') : 'all at their defaults'}`);
}

/** Wraps a runner starter so each start logs its spec, then its pid and time, or its failure. */
export function debugRunnerStart(debug: Log, start: SchedulerOptions['startRunner']): SchedulerOptions['startRunner'] {
  return async (spec) => {
    const t0 = performance.now();
    debug(`starting a runner for ${spec.name}: ${spec.path}, context ${spec.numCtx}, ${spec.slots} slot(s), ${!spec.kvF16 ? 'f32' : spec.kvTypes ? kvTypesName(spec.kvTypes) : 'f16'} KV cache, threads ${spec.threads || 'default'}`);
    try {
      const r = await start(spec);
      debug(`runner for ${spec.name} ready in ${(performance.now() - t0).toFixed(0)}ms`);
      return r;
    } catch (e) {
      debug(`runner for ${spec.name} failed to start after ${(performance.now() - t0).toFixed(0)}ms: ${(e as Error).message}`);
      throw e;
    }
  };
}
