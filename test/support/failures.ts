// Expectations about thrown errors, and `Failures`, which collects the failures of a big
// table-driven loop so they are reported together.
import { expect } from 'vitest';
import { Pqe2eeError } from '../../src/crypto/index.js';
import { hex } from './bytes.js';

export type ErrorClass = abstract new (...args: never[]) => Error;

/** A short description of anything thrown. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}(${String((e as { code?: unknown }).code ?? '')}): ${e.message}`;
  return `non-Error throw: ${String(e)}`;
}
/** Same as describeError (the crypto suites' name). */
export const errName = describeError;

export function show(r: unknown): string {
  if (r instanceof Uint8Array) return `Uint8Array(${r.length}) ${hex(r.subarray(0, 24))}${r.length > 24 ? '…' : ''}`;
  if (r && typeof r === 'object') return `{${Object.keys(r).join(',')}}`;
  return String(r);
}

/** True if `e` is a typed error of the package: instanceof Pqe2eeError with a string code ERR_*. */
export function isTypedError(e: unknown): e is Pqe2eeError {
  return e instanceof Pqe2eeError && typeof e.code === 'string' && /^ERR_[A-Z0-9_]+$/.test(e.code);
}

/**
 * Runs `fn`, expecting it to throw an instance of `cls` (and `code`, when given). Returns a description
 * of what went wrong, or null if the expectation held. Used by the table-driven suites so that all
 * failures of a block are collected and reported together.
 */
export function checkThrows(fn: () => unknown, cls: ErrorClass, code?: string): string | null {
  try {
    const r = fn();
    return `expected ${cls.name} but call returned ${show(r)}`;
  } catch (e) {
    if (!(e instanceof cls)) return `expected ${cls.name}, got ${describeError(e)}`;
    if (code !== undefined && (e as { code?: unknown }).code !== code) return `expected code ${code}, got ${String((e as { code?: unknown }).code)}`;
    return null;
  }
}

/** Like checkThrows but only requires a Pqe2eeError subclass. */
export function checkRejectsWithPqe2eeError(fn: () => unknown): string | null {
  return checkThrows(fn, Pqe2eeError);
}

/**
 * Runs `fn` and returns what it threw; fails the test if it returned, or threw something that is
 * not one of `classes` (default: any Pqe2eeError with a string code).
 */
export function expectThrow(fn: () => unknown, ...classes: ErrorClass[]): Pqe2eeError {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    const wanted = classes.length ? classes : [Pqe2eeError];
    if (!isTypedError(e) || !wanted.some((c) => e instanceof c)) {
      expect.fail(`expected ${wanted.map((c) => c.name).join(' or ')}, got ${describeError(e)}`);
    }
    return e as Pqe2eeError;
  }
  return expect.fail(`expected ${classes.map((c) => c.name).join(' or ') || 'Pqe2eeError'}, but the call returned ${show(result)}`);
}

/** Like expectThrow, but returns a failure description (or null) instead of failing: for big loops. */
export function checkThrow(fn: () => unknown, ...classes: ErrorClass[]): string | null {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    const wanted = classes.length ? classes : [Pqe2eeError];
    if (!isTypedError(e) || !wanted.some((c) => e instanceof c)) return `expected ${wanted.map((c) => c.name).join(' or ')}, got ${describeError(e)}`;
    return null;
  }
  return `expected ${classes.map((c) => c.name).join(' or ') || 'Pqe2eeError'}, but the call returned ${show(result)}`;
}

/** Collects failure strings; `assert` / `assertNone` fail once with all of them (or the first 40). */
export class Failures {
  readonly list: string[] = [];
  add(where: string, msg: string | null | undefined): void {
    if (msg) this.list.push(`${where}: ${msg}`);
  }
  /** Runs `body`, recording any unexpected exception as a failure of `where`. */
  guard(where: string, body: () => void): void {
    try {
      body();
    } catch (e) {
      this.list.push(`${where}: unexpected ${describeError(e)}`);
    }
  }
  get count(): number {
    return this.list.length;
  }
  private summary(): string {
    const shown = this.list.slice(0, 40).join('\n  ');
    const more = this.list.length > 40 ? `\n  ... and ${this.list.length - 40} more` : '';
    return `${this.list.length} failure(s):\n  ${shown}${more}`;
  }
  /** Throws an Error listing every failure, if any. */
  assert(): void {
    if (this.list.length !== 0) throw new Error(this.summary());
  }
  /** Fails the test (expect.fail) listing every failure, if any. */
  assertNone(): void {
    if (this.list.length !== 0) expect.fail(this.summary());
  }
}
