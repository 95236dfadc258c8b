import type { ValueTransformer } from 'typeorm';

/**
 * PostgreSQL `bigint` arrives from the driver as a string. Sizes and engine ids stay far below
 * 2^53, so they are numbers in the API; a value beyond that is refused rather than rounded.
 */
export const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null): number | null => {
    if (value === null || value === undefined) return null;
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} is beyond 2^53`);
    return n;
  },
};

/** `double precision` and `numeric` columns as numbers. */
export const floatNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null): number | null => (value === null || value === undefined ? null : Number(value)),
};
