import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { bigintNumber } from './columns';
import { MoverEntity } from './mover.entity';
import { PoolEntity } from './pool.entity';

export const FILESYSTEM_STATES = ['creating', 'ready', 'deleting', 'failed'] as const;
export type FilesystemState = (typeof FILESYSTEM_STATES)[number];

/**
 * A filesystem carved from a pool. `fsid` is the engine's id (in file handles): it comes from
 * the sequence `filesystems_fsid_seq`, which starts at 2 because the default filesystem of the
 * embedded start is 1 (inserted with that id explicitly). An fsid is never reused.
 */
@Entity({ name: 'filesystems' })
@Unique('filesystems_name_key', ['name'])
@Unique('filesystems_fsid_key', ['fsid'])
@Check('filesystems_state_check', "state IN ('creating', 'ready', 'deleting', 'failed')")
@Check('filesystems_size_bytes_check', 'size_bytes > 0')
@Check('filesystems_fsid_check', 'fsid > 0')
export class FilesystemEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'filesystems_pkey' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  /** From `nextval('filesystems_fsid_seq')` (see `nextFsid`), or 1 for the default filesystem. */
  @Column({ type: 'bigint', transformer: bigintNumber })
  fsid!: number;

  @Index('filesystems_pool_id_idx')
  @Column({ name: 'pool_id', type: 'uuid' })
  poolId!: string;

  @ManyToOne(() => PoolEntity, { onDelete: 'RESTRICT', nullable: false })
  @JoinColumn({ name: 'pool_id', foreignKeyConstraintName: 'filesystems_pool_id_fkey' })
  pool?: PoolEntity;

  @Column({ name: 'size_bytes', type: 'bigint', transformer: bigintNumber })
  sizeBytes!: number;

  @Column({ type: 'text', default: 'creating' })
  state!: FilesystemState;

  @Index('filesystems_owner_mover_id_idx')
  @Column({ name: 'owner_mover_id', type: 'uuid', nullable: true })
  ownerMoverId!: string | null;

  @ManyToOne(() => MoverEntity, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'owner_mover_id', foreignKeyConstraintName: 'filesystems_owner_mover_id_fkey' })
  ownerMover?: MoverEntity | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** The next engine id for a new filesystem (never reused, even if the insert then fails). */
export async function nextFsid(manager: { query(sql: string): Promise<Array<{ fsid: string }>> }): Promise<number> {
  const rows = await manager.query(`SELECT nextval('filesystems_fsid_seq') AS fsid`);
  return bigintNumber.from(rows[0]!.fsid) as number;
}
