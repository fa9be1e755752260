/**
 * Field readers for parseMessage: each reads one property of a decoded object, checks
 * it, and names the property in the error ("step.indices[3] is 61234, above 59999").
 */

/** The largest step number, round or id accepted (2^53 would lose integer precision long before). */
export const MAX_COUNTER = 2 ** 48;

/** Longest runtime label a hello or a workers row may carry ("chrome 131", "node 20.19.2"). */
export const MAX_RUNTIME = 64;

export type ProtocolErrorCode =
  | 'BAD_FRAME'
  | 'NOT_AN_OBJECT'
  | 'MISSING_FIELD'
  | 'BAD_FIELD'
  | 'NOT_FINITE'
  | 'BAD_LENGTH'
  | 'UNKNOWN_TYPE'
  | 'UNEXPECTED_MESSAGE';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class Fields {
  private constructor(
    private readonly object: Record<string, unknown>,
    private readonly where: string,
  ) {}

  static of(value: unknown, where: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
      throw new ProtocolError('NOT_AN_OBJECT', `${where} is not an object`);
    }
    const object = value as Record<string, unknown>;
    const type = object['type'];
    return new Fields(object, typeof type === 'string' && where === 'message' ? type.slice(0, 32) : where);
  }

  private name(key: string): string {
    return `${this.where}.${key}`;
  }

  has(key: string): boolean {
    return this.object[key] !== undefined;
  }

  get(key: string): unknown {
    const value = this.object[key];
    if (value === undefined) throw new ProtocolError('MISSING_FIELD', `${this.name(key)} is missing`);
    return value;
  }

  optional<T>(key: string, read: () => T): T | undefined {
    return this.has(key) ? read() : undefined;
  }

  nullable<T>(key: string, read: () => T): T | null {
    return this.get(key) === null ? null : read();
  }

  string(key: string, maxLength: number): string {
    const value = this.get(key);
    if (typeof value !== 'string') throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not a string`);
    if (value.length > maxLength) throw new ProtocolError('BAD_LENGTH', `${this.name(key)} is longer than ${maxLength}`);
    return value;
  }

  oneOf<const T extends string>(key: string, allowed: readonly T[]): T {
    const value = this.get(key);
    if (!allowed.includes(value as T)) {
      throw new ProtocolError('BAD_FIELD', `${this.name(key)} must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  boolean(key: string): boolean {
    const value = this.get(key);
    if (typeof value !== 'boolean') throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not a boolean`);
    return value;
  }

  integer(key: string, min: number, max: number): number {
    const value = this.get(key);
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not an integer`);
    }
    if (value < min || value > max) throw new ProtocolError('BAD_FIELD', `${this.name(key)} = ${value} is outside [${min}, ${max}]`);
    return value;
  }

  finite(key: string, min: number, max: number): number {
    const value = this.get(key);
    if (typeof value !== 'number') throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not a number`);
    if (!Number.isFinite(value)) throw new ProtocolError('NOT_FINITE', `${this.name(key)} is not finite`);
    if (value < min || value > max) throw new ProtocolError('BAD_FIELD', `${this.name(key)} = ${value} is outside [${min}, ${max}]`);
    return value;
  }

  array(key: string, maxLength: number): unknown[] {
    const value = this.get(key);
    if (!Array.isArray(value)) throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not an array`);
    if (value.length > maxLength) throw new ProtocolError('BAD_LENGTH', `${this.name(key)} has more than ${maxLength} items`);
    return value;
  }

  /** Exactly `length` finite float32s. */
  floats(key: string, length: number): Float32Array {
    const value = this.get(key);
    if (!(value instanceof Float32Array)) throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not a Float32Array`);
    if (value.length !== length) {
      throw new ProtocolError('BAD_LENGTH', `${this.name(key)} has ${value.length} floats, expected ${length}`);
    }
    if (!allFinite(value)) {
      const i = value.findIndex((x) => !Number.isFinite(x));
      throw new ProtocolError('NOT_FINITE', `${this.name(key)}[${i}] is ${value[i]}`);
    }
    return value;
  }

  /** A Uint8Array (msgpack bin) of minLength..maxLength bytes. */
  bytes(key: string, minLength: number, maxLength: number): Uint8Array {
    const value = this.get(key);
    if (!(value instanceof Uint8Array)) throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not binary`);
    if (value.length < minLength || value.length > maxLength) {
      throw new ProtocolError('BAD_LENGTH', `${this.name(key)} has ${value.length} bytes, expected ${minLength}..${maxLength}`);
    }
    return value;
  }

  uint32s(key: string, length: number): Uint32Array {
    const value = this.get(key);
    if (!(value instanceof Uint32Array)) throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not a Uint32Array`);
    if (value.length !== length) throw new ProtocolError('BAD_LENGTH', `${this.name(key)} has ${value.length} items, expected ${length}`);
    return value;
  }

  /** 1..maxLength image indices, each below `count`. */
  indices(key: string, maxLength: number, count: number): Uint32Array {
    const value = this.get(key);
    if (!(value instanceof Uint32Array)) throw new ProtocolError('BAD_FIELD', `${this.name(key)} is not a Uint32Array`);
    if (value.length < 1 || value.length > maxLength) {
      throw new ProtocolError('BAD_LENGTH', `${this.name(key)} has ${value.length} items, expected 1..${maxLength}`);
    }
    for (let i = 0; i < value.length; i++) {
      if (value[i]! >= count) throw new ProtocolError('BAD_FIELD', `${this.name(key)}[${i}] = ${value[i]} is not below ${count}`);
    }
    return value;
  }
}

/**
 * Whether every element is finite. x * 0 is 0 for every finite x and NaN for NaN and
 * +-Infinity, so a sum of them is NaN iff some element is not finite: a branch-free pass.
 * NOTE: four sums, not one: a single sum waits for the previous add at every element, and
 * this check runs over every gradient the coordinator receives (bench/RESULTS.md has the figures).
 */
export function allFinite(values: Float32Array): boolean {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const whole = values.length & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    a += values[i]! * 0;
    b += values[i + 1]! * 0;
    c += values[i + 2]! * 0;
    d += values[i + 3]! * 0;
  }
  for (; i < values.length; i++) a += values[i]! * 0;
  return a + b + c + d === 0;
}
