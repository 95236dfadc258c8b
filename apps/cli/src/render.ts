/**
 * Human output: plain column tables (no borders or colours, so they survive pipes and `grep`),
 * binary byte sizes, and a generic rendering for documents whose fields the CLI does not know
 * one by one. The API's field names follow the contract; anything missing shows as `-`.
 */
/**
 * Columns padded to their widest cell, two spaces apart, no trailing blanks. Hand-rolled rather
 * than cli-table3, which took ~0.8 s for 2000 rows (its per-cell width and wrap work); cells
 * are plain text (names are ASCII by validation), so the string length is the width.
 */
export function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** A number from a JSON number or a decimal string (bigint columns travel as strings). */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return undefined;
}

export function str(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(v: unknown): string {
  const n = num(v);
  if (n === undefined) return '-';
  let i = 0;
  let x = n;
  // Step up also when rounding would print 1024 of a unit (1 GiB less 4 KiB is "1.00 GiB").
  while (i < UNITS.length - 1 && Math.abs(x) >= 1024 - 0.05) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${x.toFixed(x < 10 ? 2 : 1)} ${UNITS[i]}`;
}

export function percent(progress: unknown): string {
  const p = num(progress);
  return p === undefined ? '-' : `${Math.floor(Math.min(1, Math.max(0, p)) * 100)}%`;
}

export function yesNo(v: unknown): string {
  return v === true ? 'yes' : v === false ? 'no' : '-';
}

/** A compact `k=v k=v` line for small objects such as a job's detail. */
export function pairs(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return str(v);
  return Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined && x !== null)
    .map(([k, x]) => `${k}=${typeof x === 'object' ? JSON.stringify(x) : str(x)}`)
    .join(' ');
}

/** A document as indented `key: value` lines; nested objects indent, arrays of scalars join. */
export function document(v: unknown, indent = ''): string[] {
  if (v === null || typeof v !== 'object') return [`${indent}${str(v)}`];
  const lines: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(x)) {
      if (x.every((e) => e === null || typeof e !== 'object')) lines.push(`${indent}${k}: ${x.length === 0 ? '-' : x.map(str).join(', ')}`);
      else {
        lines.push(`${indent}${k}:`);
        for (const e of x) lines.push(`${indent}  - ${pairs(e)}`);
      }
    } else if (x !== null && typeof x === 'object') {
      lines.push(`${indent}${k}:`);
      lines.push(...document(x, indent + '  '));
    } else lines.push(`${indent}${k}: ${str(x)}`);
  }
  return lines;
}
