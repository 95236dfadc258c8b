import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import { bigintNumber } from './columns';

/** A block pool: devices carved into slices (the embedded start registers `pool0`). */
@Entity({ name: 'pools' })
@Unique('pools_name_key', ['name'])
@Check('pools_slice_bytes_check', 'slice_bytes > 0')
export class PoolEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pools_pkey' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'slice_bytes', type: 'bigint', transformer: bigintNumber })
  sliceBytes!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
