import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Usage of filesystems in a cluster (docs/cluster.md, "Usage"): the owning mover's statfs figures,
 * one row per filesystem, written with its lease renewal (LeaseStore.tick) and read by the
 * admin-api. The row names the mover and lease epoch it was measured under, when it was measured
 * and until when it counts as current (database clock), so a reader can tell a figure from the
 * serving owner from a last known one. No entity maps this table, like fs_leases.
 */
export class FsUsage1767398400000 implements MigrationInterface {
  name = 'FsUsage1767398400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE fs_usage (
        filesystem_id uuid NOT NULL,
        mover_id uuid,
        epoch bigint NOT NULL,
        size_bytes bigint NOT NULL,
        used_bytes bigint NOT NULL,
        free_bytes bigint NOT NULL,
        files bigint NOT NULL,
        free_files bigint NOT NULL,
        measured_at timestamptz NOT NULL,
        fresh_until timestamptz NOT NULL,
        CONSTRAINT fs_usage_pkey PRIMARY KEY (filesystem_id),
        CONSTRAINT fs_usage_figures_check CHECK (size_bytes >= 0 AND used_bytes >= 0 AND free_bytes >= 0 AND files >= 0 AND free_files >= 0),
        CONSTRAINT fs_usage_filesystem_id_fkey FOREIGN KEY (filesystem_id) REFERENCES filesystems (id) ON DELETE CASCADE,
        CONSTRAINT fs_usage_mover_id_fkey FOREIGN KEY (mover_id) REFERENCES movers (id) ON DELETE SET NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS fs_usage`);
  }
}
