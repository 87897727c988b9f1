/**
 * The small option parser of `pqe2ee audit`: `--name value`, `--name=value` and boolean flags,
 * each option at most once, nothing positional. Errors are usage errors (exit status 2).
 */
import { InvalidClientInputError } from '../../errors.js';

/** Parsed options: value options as strings, flags as true. */
export type ParsedOptions = Readonly<Record<string, string | true>>;

/** Parses `args` allowing value options `valued` and boolean `flags`; throws InvalidClientInputError. */
export function parseOptions(args: readonly string[], valued: readonly string[], flags: readonly string[] = []): ParsedOptions {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const equals = arg.indexOf('=');
    const name = arg.startsWith('--') && equals > 0 ? arg.slice(0, equals) : arg;
    if (Object.hasOwn(out, name)) throw new InvalidClientInputError(`${name.slice(0, 40)} given twice`);
    if (flags.includes(name)) {
      if (name !== arg) throw new InvalidClientInputError(`${name} takes no value`);
      out[name] = true;
    } else if (valued.includes(name)) {
      const value = name !== arg ? arg.slice(equals + 1) : args[++i];
      if (value === undefined) throw new InvalidClientInputError(`missing value for ${name}`);
      out[name] = value;
    } else {
      throw new InvalidClientInputError(`unknown option ${arg.slice(0, 40)}`);
    }
  }
  return out;
}

/** The value of a required option. */
export function required(options: ParsedOptions, name: string): string {
  const value = options[name];
  if (typeof value !== 'string' || value.length === 0) throw new InvalidClientInputError(`${name} is required`);
  return value;
}

/** The value of an optional option, or undefined. */
export function optional(options: ParsedOptions, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}

/** A non-negative decimal integer option (at most 2^53 − 1), or `fallback`. */
export function integer(options: ParsedOptions, name: string, fallback: number): number {
  const value = optional(options, name);
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidClientInputError(`${name} needs a non-negative integer, got '${value.slice(0, 40)}'`);
  return Number(value);
}
