import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { IsNull, type DataSource } from 'typeorm';
import {
  ApiTokenEntity,
  conflict,
  generateToken,
  hashesEqual,
  hashToken,
  notFound,
  PG_UNIQUE_VIOLATION,
  sqlState,
  TOKEN_PATTERN,
  tokenPrefix,
  type TokenRole,
} from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import type { AuditScope } from '../common/audit';
import type { Actor } from '../common/request';
import { isUuid, page, type Page } from './paging';

/** `last_used_at` is written at most this often per token, not on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** Advisory lock key serialising the first-token bootstrap of concurrent starts ("ferrytok"). */
const BOOTSTRAP_LOCK_KEY = '7378139211826278251';

export interface TokenDoc {
  id: string;
  name: string;
  role: TokenRole;
  prefix: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

/**
 * API tokens: authentication by the sha256 of the presented secret, creation (the secret is
 * answered once and never stored), revocation, and the first admin token of a fresh install.
 */
@Injectable()
export class TokenService implements OnApplicationBootstrap {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.options.bootstrapAdminToken !== false) await this.bootstrapAdminToken();
  }

  /** The caller of a presented secret, or undefined for an unknown, malformed or revoked one. */
  async authenticate(secret: string): Promise<Actor | undefined> {
    if (!TOKEN_PATTERN.test(secret)) return undefined;
    const hash = hashToken(secret);
    const row = await this.ds.getRepository(ApiTokenEntity).findOneBy({ tokenHash: hash });
    if (!row || row.revokedAt !== null || !hashesEqual(row.tokenHash, hash)) return undefined;
    if (row.lastUsedAt === null || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.ds.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [row.id]);
    }
    return { tokenId: row.id, name: row.name, role: row.role };
  }

  async list(limit: number, offset: number): Promise<Page<TokenDoc>> {
    const [rows, total] = await this.ds.getRepository(ApiTokenEntity).findAndCount({
      order: { createdAt: 'ASC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
    return page(rows.map(tokenDoc), total, limit, offset);
  }

  async create(name: string, role: TokenRole, scope: AuditScope): Promise<TokenDoc & { token: string }> {
    scope.about(name, { role });
    const secret = generateToken();
    try {
      return await this.ds.transaction(async (m) => {
        const row = await m.save(
          m.create(ApiTokenEntity, { name, role, tokenHash: hashToken(secret), prefix: tokenPrefix(secret) }),
        );
        await scope.record(m, row.id, { name, role });
        return { ...tokenDoc(row), token: secret };
      });
    } catch (err) {
      if (sqlState(err) === PG_UNIQUE_VIOLATION) throw conflict(`a token named "${name}" exists`);
      throw err;
    }
  }

  async revoke(id: string, scope: AuditScope): Promise<void> {
    scope.about(id);
    if (!isUuid(id)) throw notFound('token', id);
    await this.ds.transaction(async (m) => {
      const row = await m.findOne(ApiTokenEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw notFound('token', id);
      if (row.revokedAt === null) await m.update(ApiTokenEntity, { id }, { revokedAt: () => 'now()' });
      await scope.record(m, id, { name: row.name });
    });
  }

  /**
   * At the first start (no usable admin token) makes one, writes it to `$dataDir/admin-token`
   * (mode 0600) before the row commits, and logs it once. A crash before the commit leaves a
   * file with a token that does not exist, replaced at the next start; never a token without file.
   */
  async bootstrapAdminToken(): Promise<string | undefined> {
    return this.ds.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
      const usable = await m.count(ApiTokenEntity, { where: { role: 'admin', revokedAt: IsNull() } });
      if (usable > 0) return undefined;
      const supplied = this.options.firstAdminToken;
      if (supplied !== undefined && !TOKEN_PATTERN.test(supplied)) throw new Error('the supplied first admin token does not have the form ferry_ + 43 characters');
      const secret = supplied ?? generateToken();
      const taken = await m.count(ApiTokenEntity, { where: { name: 'admin' } });
      const name = taken === 0 ? 'admin' : `admin-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await m.insert(ApiTokenEntity, { name, role: 'admin', tokenHash: hashToken(secret), prefix: tokenPrefix(secret) });
      await m.query(`INSERT INTO audit_log (actor, action, target, detail, status) VALUES ('system', 'token.bootstrap', $1, NULL, 201)`, [name]);
      if (supplied !== undefined) {
        this.options.logger.warn({ name }, 'first admin API token: the one the deployment supplied (FERRY_ADMIN_TOKEN_FILE)');
        return secret;
      }
      let file: string | undefined;
      if (this.options.dataDir !== undefined) {
        file = join(this.options.dataDir, 'admin-token');
        await writeOwnerOnly(file, `${secret}\n`);
      }
      this.options.logger.warn(
        { token: secret, name, file },
        `first admin API token (shown once${file ? `; also in ${file}` : ''}): ${secret}`,
      );
      return secret;
    });
  }
}

function tokenDoc(row: ApiTokenEntity): TokenDoc {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
    createdAt: row.createdAt,
  };
}

/** Writes a file readable by its owner only (0600 from creation, fsync, atomic rename). */
async function writeOwnerOnly(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tmp, path);
}
