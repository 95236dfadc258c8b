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
import { PoolEntity } from './pool.entity';

/** A device (file or block device) of a pool; `device_index` is its index in the pool label. */
@Entity({ name: 'devices' })
@Unique('devices_path_key', ['path'])
@Unique('devices_pool_id_device_index_key', ['poolId', 'deviceIndex'])
@Check('devices_size_bytes_check', 'size_bytes > 0')
@Check('devices_device_index_check', 'device_index >= 0')
export class DeviceEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'devices_pkey' })
  id!: string;

  @Index('devices_pool_id_idx')
  @Column({ name: 'pool_id', type: 'uuid' })
  poolId!: string;

  @ManyToOne(() => PoolEntity, { onDelete: 'RESTRICT', nullable: false })
  @JoinColumn({ name: 'pool_id', foreignKeyConstraintName: 'devices_pool_id_fkey' })
  pool?: PoolEntity;

  @Column({ type: 'text' })
  path!: string;

  @Column({ name: 'size_bytes', type: 'bigint', transformer: bigintNumber })
  sizeBytes!: number;

  @Column({ name: 'device_index', type: 'integer' })
  deviceIndex!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
