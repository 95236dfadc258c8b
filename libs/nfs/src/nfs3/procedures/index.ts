/** The NFSv3 procedures by number (RFC 1813 §3.3); NULL (0) is answered by the service. */
import type { Nfs3Procedure } from '../procedure';
import { ACCESS } from './access';
import { COMMIT } from './commit';
import { CREATE } from './create';
import { FSINFO } from './fsinfo';
import { FSSTAT } from './fsstat';
import { GETATTR } from './getattr';
import { LINK } from './link';
import { LOOKUP } from './lookup';
import { MKDIR } from './mkdir';
import { MKNOD } from './mknod';
import { PATHCONF } from './pathconf';
import { READ } from './read';
import { READDIR } from './readdir';
import { READDIRPLUS } from './readdirplus';
import { READLINK } from './readlink';
import { REMOVE } from './remove';
import { RENAME } from './rename';
import { RMDIR } from './rmdir';
import { SETATTR } from './setattr';
import { SYMLINK } from './symlink';
import { WRITE } from './write';

export { ACCESS, COMMIT, CREATE, FSINFO, FSSTAT, GETATTR, LINK, LOOKUP, MKDIR, MKNOD, PATHCONF, READ, READDIR, READDIRPLUS, READLINK };
export { REMOVE, RENAME, RMDIR, SETATTR, SYMLINK, WRITE };

export type AnyNfs3Procedure = Nfs3Procedure<any, any>;

/** Index = procedure number; entry 0 (NULL) is undefined here. */
export const NFS3_PROCEDURES: ReadonlyArray<AnyNfs3Procedure | undefined> = [
  undefined,
  GETATTR,
  SETATTR,
  LOOKUP,
  ACCESS,
  READLINK,
  READ,
  WRITE,
  CREATE,
  MKDIR,
  SYMLINK,
  MKNOD,
  REMOVE,
  RMDIR,
  RENAME,
  LINK,
  READDIR,
  READDIRPLUS,
  FSSTAT,
  FSINFO,
  PATHCONF,
  COMMIT,
];

export const NFS3_PROCEDURE_NAMES: readonly string[] = ['NULL', ...NFS3_PROCEDURES.slice(1).map((p) => p?.name ?? '?')];
