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
import { FilesystemEntity } from './filesystem.entity';

export const EXPORT_ACCESS = ['rw', 'ro'] as const;
export type ExportAccess = (typeof EXPORT_ACCESS)[number];

/**
 * An NFS export of a filesystem. `clients` is a JSON array of client patterns (address, CIDR
 * or `*`); the path is validated by `validateExportPath` before it gets here. The foreign key
 * refuses to delete a filesystem that still has an export.
 */
@Entity({ name: 'exports' })
@Unique('exports_path_key', ['path'])
@Check('exports_access_check', "access IN ('rw', 'ro')")
@Check('exports_anon_uid_check', 'anon_uid BETWEEN 0 AND 4294967295')
@Check('exports_anon_gid_check', 'anon_gid BETWEEN 0 AND 4294967295')
@Check('exports_clients_check', "jsonb_typeof(clients) = 'array'")
export class ExportEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'exports_pkey' })
  id!: string;

  @Index('exports_filesystem_id_idx')
  @Column({ name: 'filesystem_id', type: 'uuid' })
  filesystemId!: string;

  @ManyToOne(() => FilesystemEntity, { onDelete: 'RESTRICT', nullable: false })
  @JoinColumn({ name: 'filesystem_id', foreignKeyConstraintName: 'exports_filesystem_id_fkey' })
  filesystem?: FilesystemEntity;

  @Column({ type: 'text' })
  path!: string;

  @Column({ type: 'jsonb' })
  clients!: string[];

  @Column({ type: 'text', default: 'rw' })
  access!: ExportAccess;

  @Column({ name: 'root_squash', type: 'boolean', default: true })
  rootSquash!: boolean;

  @Column({ name: 'all_squash', type: 'boolean', default: false })
  allSquash!: boolean;

  @Column({ name: 'anon_uid', type: 'bigint', default: 65534, transformer: bigintNumber })
  anonUid!: number;

  @Column({ name: 'anon_gid', type: 'bigint', default: 65534, transformer: bigintNumber })
  anonGid!: number;

  @Column({ type: 'boolean', default: true })
  secure!: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
