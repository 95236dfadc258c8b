import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One change request: who (`actor`, the token's name), what (`action` like
 * `filesystem.create`, `target` the resource id or name), when (`at`, the database's
 * clock_timestamp so rows of one transaction still order), and the outcome (`status`, the HTTP
 * status answered: refused changes are recorded too). Rows are only ever inserted.
 */
@Entity({ name: 'audit_log' })
@Index('audit_log_at_idx', ['at'])
export class AuditLogEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'audit_log_pkey' })
  id!: string;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  at!: Date;

  @Column({ type: 'text' })
  actor!: string;

  @Column({ type: 'text' })
  action!: string;

  @Column({ type: 'text', nullable: true })
  target!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  detail!: Record<string, unknown> | null;

  @Column({ type: 'integer' })
  status!: number;
}
