import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema of the control plane (docs/control-plane.md, "Data model"). Written by
 * hand: the SQL here is the schema, and a test checks that the entities describe exactly it
 * (TypeORM's schema builder finds nothing to change). Constraint names are PostgreSQL's own
 * defaults, spelled out in the entities too.
 */
export class InitialSchema1767225600000 implements MigrationInterface {
  name = 'InitialSchema1767225600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE pools (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        slice_bytes bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pools_pkey PRIMARY KEY (id),
        CONSTRAINT pools_name_key UNIQUE (name),
        CONSTRAINT pools_slice_bytes_check CHECK (slice_bytes > 0)
      )`);
    await q.query(`
      CREATE TABLE devices (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        pool_id uuid NOT NULL,
        path text NOT NULL,
        size_bytes bigint NOT NULL,
        device_index integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT devices_pkey PRIMARY KEY (id),
        CONSTRAINT devices_path_key UNIQUE (path),
        CONSTRAINT devices_pool_id_device_index_key UNIQUE (pool_id, device_index),
        CONSTRAINT devices_size_bytes_check CHECK (size_bytes > 0),
        CONSTRAINT devices_device_index_check CHECK (device_index >= 0),
        CONSTRAINT devices_pool_id_fkey FOREIGN KEY (pool_id) REFERENCES pools (id) ON DELETE RESTRICT
      )`);
    await q.query(`CREATE INDEX devices_pool_id_idx ON devices (pool_id)`);
    await q.query(`
      CREATE TABLE movers (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        address text NOT NULL,
        nfs_port integer NOT NULL,
        http_port integer NOT NULL,
        state text NOT NULL DEFAULT 'active',
        last_heartbeat timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT movers_pkey PRIMARY KEY (id),
        CONSTRAINT movers_name_key UNIQUE (name),
        CONSTRAINT movers_state_check CHECK (state IN ('active', 'draining', 'drained')),
        CONSTRAINT movers_nfs_port_check CHECK (nfs_port BETWEEN 0 AND 65535),
        CONSTRAINT movers_http_port_check CHECK (http_port BETWEEN 0 AND 65535)
      )`);
    // Engine ids: 1 is the default filesystem of the embedded start, inserted explicitly; the
    // others come from nextval (taken by the application: a column default on a sequence would
    // make TypeORM treat fsid as a generated key).
    await q.query(`CREATE SEQUENCE filesystems_fsid_seq AS bigint START WITH 2 MINVALUE 1`);
    await q.query(`
      CREATE TABLE filesystems (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        fsid bigint NOT NULL,
        pool_id uuid NOT NULL,
        size_bytes bigint NOT NULL,
        state text NOT NULL DEFAULT 'creating',
        owner_mover_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT filesystems_pkey PRIMARY KEY (id),
        CONSTRAINT filesystems_name_key UNIQUE (name),
        CONSTRAINT filesystems_fsid_key UNIQUE (fsid),
        CONSTRAINT filesystems_state_check CHECK (state IN ('creating', 'ready', 'deleting', 'failed')),
        CONSTRAINT filesystems_size_bytes_check CHECK (size_bytes > 0),
        CONSTRAINT filesystems_fsid_check CHECK (fsid > 0),
        CONSTRAINT filesystems_pool_id_fkey FOREIGN KEY (pool_id) REFERENCES pools (id) ON DELETE RESTRICT,
        CONSTRAINT filesystems_owner_mover_id_fkey FOREIGN KEY (owner_mover_id) REFERENCES movers (id) ON DELETE SET NULL
      )`);
    await q.query(`ALTER SEQUENCE filesystems_fsid_seq OWNED BY filesystems.fsid`);
    await q.query(`CREATE INDEX filesystems_pool_id_idx ON filesystems (pool_id)`);
    await q.query(`CREATE INDEX filesystems_owner_mover_id_idx ON filesystems (owner_mover_id)`);
    await q.query(`
      CREATE TABLE exports (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        filesystem_id uuid NOT NULL,
        path text NOT NULL,
        clients jsonb NOT NULL,
        access text NOT NULL DEFAULT 'rw',
        root_squash boolean NOT NULL DEFAULT true,
        all_squash boolean NOT NULL DEFAULT false,
        anon_uid bigint NOT NULL DEFAULT 65534,
        anon_gid bigint NOT NULL DEFAULT 65534,
        secure boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT exports_pkey PRIMARY KEY (id),
        CONSTRAINT exports_path_key UNIQUE (path),
        CONSTRAINT exports_access_check CHECK (access IN ('rw', 'ro')),
        CONSTRAINT exports_anon_uid_check CHECK (anon_uid BETWEEN 0 AND 4294967295),
        CONSTRAINT exports_anon_gid_check CHECK (anon_gid BETWEEN 0 AND 4294967295),
        CONSTRAINT exports_clients_check CHECK (jsonb_typeof(clients) = 'array'),
        CONSTRAINT exports_filesystem_id_fkey FOREIGN KEY (filesystem_id) REFERENCES filesystems (id) ON DELETE RESTRICT
      )`);
    await q.query(`CREATE INDEX exports_filesystem_id_idx ON exports (filesystem_id)`);
    await q.query(`
      CREATE TABLE jobs (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        type text NOT NULL,
        params jsonb NOT NULL DEFAULT '{}'::jsonb,
        state text NOT NULL DEFAULT 'queued',
        progress double precision NOT NULL DEFAULT 0,
        detail jsonb,
        result jsonb,
        error text,
        idempotency_key text,
        created_by text,
        cancel_requested boolean NOT NULL DEFAULT false,
        attempts integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT jobs_pkey PRIMARY KEY (id),
        CONSTRAINT jobs_idempotency_key_key UNIQUE (idempotency_key),
        CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        CONSTRAINT jobs_progress_check CHECK (progress >= 0 AND progress <= 1)
      )`);
    await q.query(`CREATE INDEX jobs_state_idx ON jobs (state)`);
    await q.query(`CREATE INDEX jobs_created_at_idx ON jobs (created_at)`);
    await q.query(`
      CREATE TABLE api_tokens (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        role text NOT NULL,
        token_hash text NOT NULL,
        prefix text NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
        CONSTRAINT api_tokens_name_key UNIQUE (name),
        CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
        CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'read-only'))
      )`);
    await q.query(`
      CREATE TABLE audit_log (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor text NOT NULL,
        action text NOT NULL,
        target text,
        detail jsonb,
        status integer NOT NULL,
        CONSTRAINT audit_log_pkey PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX audit_log_at_idx ON audit_log (at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['audit_log', 'api_tokens', 'jobs', 'exports', 'filesystems', 'movers', 'devices', 'pools']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
