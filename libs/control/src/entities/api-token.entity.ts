import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';

export const TOKEN_ROLES = ['admin', 'read-only'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/**
 * An API token. Only the sha256 of the secret is stored (`token_hash`, hex); `prefix` is the
 * first characters of the secret so an admin can tell tokens apart. A revoked token stays as a
 * row (its name stays taken) so the audit log keeps pointing at something.
 */
@Entity({ name: 'api_tokens' })
@Unique('api_tokens_name_key', ['name'])
@Unique('api_tokens_token_hash_key', ['tokenHash'])
@Check('api_tokens_role_check', "role IN ('admin', 'read-only')")
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'api_tokens_pkey' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  role!: TokenRole;

  @Column({ name: 'token_hash', type: 'text' })
  tokenHash!: string;

  @Column({ type: 'text' })
  prefix!: string;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
