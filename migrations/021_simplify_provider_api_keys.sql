-- 021_simplify_provider_api_keys.sql
--
-- Pools of provider API keys (ten OpenAI keys, five Anthropic keys...) and the two functions
-- backends call to draw one: get_api_key(p_provider_name, p_key_number) and
-- get_random_api_key(p_provider_name). Only the service role may read or change them.
--
-- Apply it with either of:
--     psql -1 -v ON_ERROR_STOP=1 -f migrations/021_simplify_provider_api_keys.sql "$DATABASE_URL"
--     keyadmin --migrate
-- or paste it into the Supabase SQL editor. It is safe to run again: every step checks what is
-- already there, and no step drops, rewrites or renumbers a stored key. There is no BEGIN/COMMIT
-- in this file so that `keyadmin --migrate` can run it inside its own transaction; use psql's -1
-- (--single-transaction) to get the same all-or-nothing behaviour.

-- Tables ------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.providers (
    id serial PRIMARY KEY,
    provider_name text UNIQUE NOT NULL,
    created_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.provider_api_keys (
    id serial PRIMARY KEY,
    provider_id integer NOT NULL REFERENCES public.providers ON DELETE CASCADE,
    key_number integer NOT NULL,
    api_key text NOT NULL,
    created_at timestamptz DEFAULT now()
);

-- The highest key number a provider has ever given. New keys get the next one, so the number of
-- a deleted key is never given to another key: a backend that asks for key #10 gets key #10 or
-- nothing, never a stranger. Set from the stored keys for providers that predate it.
ALTER TABLE public.providers ADD COLUMN IF NOT EXISTS last_key_number integer NOT NULL DEFAULT 0;
UPDATE public.providers AS p
SET last_key_number = stored.highest
FROM (SELECT provider_id, max(key_number) AS highest FROM public.provider_api_keys GROUP BY provider_id) AS stored
WHERE stored.provider_id = p.id AND p.last_key_number < stored.highest;

COMMENT ON TABLE public.providers IS 'LLM providers whose API keys KeyAdmin manages; names are lower-case.';
COMMENT ON TABLE public.provider_api_keys IS 'API keys, numbered per provider from 1; numbers are never reused or renumbered.';

-- Constraints -------------------------------------------------------------------------------
-- They hold whoever writes the rows: keyadmin, psql or the SQL editor. They are added NOT VALID
-- and validated afterwards, so that a database holding older rows that break them still gets
-- them for every new row, with a WARNING instead of a failed migration.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'public.providers'::regclass AND conname = 'providers_provider_name_format') THEN
        ALTER TABLE public.providers ADD CONSTRAINT providers_provider_name_format
            CHECK (provider_name ~ '^[a-z0-9._-]{1,64}$') NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'public.provider_api_keys'::regclass AND conname = 'provider_api_keys_key_number_positive') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_key_number_positive
            CHECK (key_number > 0) NOT VALID;
    END IF;
    -- Visible ASCII only: no spaces, tabs, newlines, control characters or look-alike letters,
    -- which in a key are always a copy-and-paste accident.
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'public.provider_api_keys'::regclass AND conname = 'provider_api_keys_api_key_format') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_api_key_format
            CHECK (api_key ~ '^[!-~]+$' AND char_length(api_key) <= 2048) NOT VALID;
    END IF;
    -- Backends ask for key #3 by number: one key per number per provider. Its index is also
    -- the one both functions below look keys up by.
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'public.provider_api_keys'::regclass AND conname = 'provider_api_keys_provider_id_key_number_key') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_provider_id_key_number_key
            UNIQUE (provider_id, key_number);
    END IF;
END
$$;

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conrelid::regclass AS table_name, conname
        FROM pg_constraint
        WHERE conrelid IN ('public.providers'::regclass, 'public.provider_api_keys'::regclass)
          AND conname IN ('providers_provider_name_format', 'provider_api_keys_key_number_positive',
                          'provider_api_keys_api_key_format')
          AND NOT convalidated
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.table_name, c.conname);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'rows stored before this migration break constraint % on %; new rows are checked, fix the old ones and run the migration again',
                c.conname, c.table_name;
        END;
    END LOOP;
END
$$;

-- No key stored twice for one provider. The unique index is on a hash of the key, not on the
-- key: a duplicate then makes PostgreSQL quote the hash in its error DETAIL (in the client's
-- message and in the server log), never the key itself. decode(..., 'escape') turns the text
-- into bytes without depending on the client encoding, which keeps the expression immutable.
-- E'' strings mean the same whatever standard_conforming_strings says.
-- The hash comes first so that "is this key stored?" can be asked of this index alone: with
-- provider_id first, a provider new to the planner's statistics made it pick the
-- (provider_id, key_number) index and hash every key of the provider for each lookup.
CREATE UNIQUE INDEX IF NOT EXISTS provider_api_keys_key_hash_provider_id_key
    ON public.provider_api_keys (sha256(decode(replace(api_key, E'\\', E'\\\\'), 'escape')), provider_id);

-- Functions ---------------------------------------------------------------------------------
-- Called by name over Supabase's REST RPC: rpc("get_random_api_key", {"p_provider_name": "openai"}).
-- Names, parameter names and types are a public interface; do not change them.
-- SECURITY INVOKER: they run with the caller's rights, so only roles that may read the table
-- (the service role) get keys from them. search_path is pinned so that no object in a
-- caller's schema can stand in for the ones named here.

-- PL/pgSQL rather than LANGUAGE sql: a SQL function with a SET clause is planned again on every
-- call, while PL/pgSQL keeps its plan for the session; measured with pgbench, about three
-- times the calls per second.
CREATE OR REPLACE FUNCTION public.get_api_key(p_provider_name text, p_key_number integer)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    RETURN (
        SELECT k.api_key
        FROM public.provider_api_keys AS k
        JOIN public.providers AS p ON p.id = k.provider_id
        WHERE p.provider_name = lower(p_provider_name)
          AND k.key_number = p_key_number
    );
END
$$;

COMMENT ON FUNCTION public.get_api_key(text, integer) IS
    'The key with this number for this provider (name case-insensitive), or NULL.';

-- Uniform over the provider's keys, with gaps in the numbering, without reading them all:
-- draw a number between the lowest and highest (two index probes) and look it up (one more);
-- a number that was deleted is drawn again. Every stored key is accepted with the same
-- probability, so the pick is uniform. When most numbers are gaps, 32 misses in a row fall
-- back to picking by rank, which reads the provider's index but is uniform too.
CREATE OR REPLACE FUNCTION public.get_random_api_key(p_provider_name text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer;
    v_lowest integer;
    v_highest integer;
    v_count bigint;
    v_number integer;
    v_key text;
BEGIN
    -- The provider and its lowest and highest numbers in one statement (two index probes).
    SELECT p.id, bounds.lowest, bounds.highest INTO v_provider_id, v_lowest, v_highest
    FROM public.providers AS p
    CROSS JOIN LATERAL (
        SELECT min(k.key_number) AS lowest, max(k.key_number) AS highest
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = p.id
    ) AS bounds
    WHERE p.provider_name = lower(p_provider_name);
    IF v_lowest IS NULL THEN
        RETURN NULL;  -- no such provider, or no keys
    END IF;

    FOR attempt IN 1..32 LOOP
        -- Drawn into a variable first: random() inside the WHERE clause would be evaluated
        -- again for every row a scan visits, favouring the first rows.
        v_number := (v_lowest + floor(random() * (v_highest::bigint - v_lowest + 1)))::integer;
        SELECT k.api_key INTO v_key
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id
          AND k.key_number = v_number;
        IF FOUND THEN
            RETURN v_key;
        END IF;
    END LOOP;

    LOOP
        SELECT count(*) INTO v_count
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id;
        IF v_count = 0 THEN
            RETURN NULL;
        END IF;
        SELECT k.api_key INTO v_key
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id
        ORDER BY k.key_number
        OFFSET floor(random() * v_count)::bigint
        LIMIT 1;
        IF FOUND THEN
            RETURN v_key;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION public.get_random_api_key(text) IS
    'A uniformly random key of this provider (name case-insensitive), or NULL when it has none.';

-- Security ----------------------------------------------------------------------------------
-- Row Level Security with no policy for anyone but the service role: a role that somehow gets
-- a table privilege still sees no rows. Supabase grants anon and authenticated (the roles
-- behind its public API keys) everything in schema public by default, tables and functions
-- alike, and PostgreSQL grants EXECUTE on new functions to PUBLIC; all of that is revoked.

ALTER TABLE public.providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.provider_api_keys ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE public.providers, public.provider_api_keys FROM PUBLIC;
REVOKE ALL ON FUNCTION public.get_api_key(text, integer), public.get_random_api_key(text) FROM PUBLIC;

DO $$
DECLARE
    v_role text;
    v_sequences text := format('%s, %s',
        pg_get_serial_sequence('public.providers', 'id'),
        pg_get_serial_sequence('public.provider_api_keys', 'id'));
BEGIN
    EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM PUBLIC', v_sequences);

    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON TABLE public.providers, public.provider_api_keys FROM %I', v_role);
            EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I', v_sequences, v_role);
            EXECUTE format('REVOKE ALL ON FUNCTION public.get_api_key(text, integer), public.get_random_api_key(text) FROM %I', v_role);
        END IF;
    END LOOP;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.providers, public.provider_api_keys TO service_role;
        EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO service_role', v_sequences);
        GRANT EXECUTE ON FUNCTION public.get_api_key(text, integer), public.get_random_api_key(text) TO service_role;
        -- Supabase's service_role bypasses RLS; the policies keep it working where it does not.
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = 'providers'
                       AND policyname = 'service_role_all') THEN
            CREATE POLICY service_role_all ON public.providers
                FOR ALL TO service_role USING (true) WITH CHECK (true);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = 'provider_api_keys'
                       AND policyname = 'service_role_all') THEN
            CREATE POLICY service_role_all ON public.provider_api_keys
                FOR ALL TO service_role USING (true) WITH CHECK (true);
        END IF;
    END IF;
END
$$;
