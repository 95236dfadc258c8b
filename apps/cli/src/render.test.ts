// Goal: the human formats are exact: binary sizes round without printing "1024.0 MiB", tables
// align every column and leave no trailing blanks. Method: direct calls with edge values.
import { describe, expect, it } from 'vitest';
import { bytes, percent, table } from './render';

describe('render', () => {
  it('bytes', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(1024)).toBe('1.00 KiB');
    expect(bytes('1073741824')).toBe('1.00 GiB');
    expect(bytes(2 ** 30 - 4096)).toBe('1.00 GiB');
    expect(bytes(1023.9 * 1024)).toBe('1023.9 KiB');
    expect(bytes(10 * 2 ** 40)).toBe('10.0 TiB');
    expect(bytes(null)).toBe('-');
    expect(bytes('12G')).toBe('-');
  });

  it('percent clamps and floors', () => {
    expect(percent(0.999)).toBe('99%');
    expect(percent(1.5)).toBe('100%');
    expect(percent(-1)).toBe('0%');
    expect(percent(undefined)).toBe('-');
  });

  it('table', () => {
    expect(table(['A', 'LONG HEAD', 'C'], [['xx', '1', ''], ['y', '22', 'z']])).toBe(['A   LONG HEAD  C', 'xx  1', 'y   22         z'].join('\n'));
  });
});
