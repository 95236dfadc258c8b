import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ownership of filesystems (docs/cluster.md, "Leases"): one row per filesystem holding the
 * controller's choice of mover, the lease holder, the fencing epoch and the lease deadline on the
 * database clock. No entity maps this table: only `LeaseStore` (libs/control/src/leases.ts)
 * reads and writes it, in SQL whose conditions are the protocol.
 */
export class FsLeases1767312000000 implements MigrationInterface {
  name = 'FsLeases1767312000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE fs_leases (
        filesystem_id uuid NOT NULL,
        fsid bigint NOT NULL,
        assigned_mover_id uuid,
        owner_mover_id uuid,
        epoch bigint NOT NULL DEFAULT 0,
        expires_at timestamptz,
        serving boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT fs_leases_pkey PRIMARY KEY (filesystem_id),
        CONSTRAINT fs_leases_fsid_key UNIQUE (fsid),
        CONSTRAINT fs_leases_epoch_check CHECK (epoch >= 0),
        CONSTRAINT fs_leases_filesystem_id_fkey FOREIGN KEY (filesystem_id) REFERENCES filesystems (id) ON DELETE CASCADE,
        CONSTRAINT fs_leases_assigned_mover_id_fkey FOREIGN KEY (assigned_mover_id) REFERENCES movers (id) ON DELETE SET NULL,
        CONSTRAINT fs_leases_owner_mover_id_fkey FOREIGN KEY (owner_mover_id) REFERENCES movers (id) ON DELETE SET NULL
      )`);
    await q.query(`CREATE INDEX fs_leases_assigned_mover_id_idx ON fs_leases (assigned_mover_id)`);
    await q.query(`CREATE INDEX fs_leases_owner_mover_id_idx ON fs_leases (owner_mover_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS fs_leases`);
  }
}
