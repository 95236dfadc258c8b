import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';

export const MOVER_STATES = ['active', 'draining', 'drained'] as const;
export type MoverState = (typeof MOVER_STATES)[number];

/** A data mover process; healthy while its heartbeat (database clock) is recent. */
@Entity({ name: 'movers' })
@Unique('movers_name_key', ['name'])
@Check('movers_state_check', "state IN ('active', 'draining', 'drained')")
@Check('movers_nfs_port_check', 'nfs_port BETWEEN 0 AND 65535')
@Check('movers_http_port_check', 'http_port BETWEEN 0 AND 65535')
export class MoverEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'movers_pkey' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  address!: string;

  @Column({ name: 'nfs_port', type: 'integer' })
  nfsPort!: number;

  @Column({ name: 'http_port', type: 'integer' })
  httpPort!: number;

  @Column({ type: 'text', default: 'active' })
  state!: MoverState;

  @Column({ name: 'last_heartbeat', type: 'timestamptz', nullable: true })
  lastHeartbeat!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
