-- 023_key_lifecycle.sql
--
-- Each key's health: disabled (by an operator or automatically, with a reason), cooling down
-- until a time (after a 429), expired (an optional expiry has passed), or available; a label;
-- and what backends last reported. get_random_api_key draws only available keys,
-- get_api_key refuses disabled and expired ones, and report_api_key_result lets backends say
-- what happened with a key. The three keep their names, parameters and types.
--
-- Safe in production and safe to run again:
-- * the new columns are nullable or have constant defaults, so adding them rewrites nothing
--   (PostgreSQL 11+ stores such a default in the catalogue): milliseconds on a million keys;
-- * constraints are added NOT VALID and validated afterwards, which does not block readers;
-- * locks are waited for at most 300 ms (lock_timeout): a long transaction holding the table
--   makes this file fail fast rather than queue every backend's call behind its ALTER TABLE.
--   keyadmin --migrate tries again a few times; with psql, run it again.
-- No stored key is rewritten or dropped. Like 021 and 022: no BEGIN/COMMIT here (use psql -1).

SET LOCAL lock_timeout = '300ms';

-- Columns -------------------------------------------------------------------------------------
-- cooldown_until is never NULL: '-infinity' means "not cooling down", so that "available"
-- (cooldown_until <= now()) is one range of the index below.
ALTER TABLE public.provider_api_keys
    ADD COLUMN IF NOT EXISTS disabled_at timestamptz,
    ADD COLUMN IF NOT EXISTS disabled_reason text,
    ADD COLUMN IF NOT EXISTS disabled_by text,
    ADD COLUMN IF NOT EXISTS disabled_automatically boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS cooldown_until timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN IF NOT EXISTS expires_at timestamptz,
    ADD COLUMN IF NOT EXISTS label text,
    ADD COLUMN IF NOT EXISTS consecutive_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_status integer,
    ADD COLUMN IF NOT EXISTS last_reported_at timestamptz;

COMMENT ON COLUMN public.provider_api_keys.disabled_at IS
    'When the key was disabled; NULL when enabled. Only an operator enables it again.';
COMMENT ON COLUMN public.provider_api_keys.disabled_automatically IS
    'True when report_api_key_result disabled it (HTTP 401, 402 or 403), false when an operator did.';
COMMENT ON COLUMN public.provider_api_keys.cooldown_until IS
    'Not drawn by get_random_api_key before this time; -infinity when not cooling down.';
COMMENT ON COLUMN public.provider_api_keys.expires_at IS
    'Neither function returns the key from this time on; NULL: never.';
COMMENT ON COLUMN public.provider_api_keys.label IS 'A short operator note; never a secret.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.provider_api_keys'::regclass
                   AND conname = 'provider_api_keys_label_format') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_label_format
            CHECK (char_length(label) <= 100 AND label !~ '[[:cntrl:]]') NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.provider_api_keys'::regclass
                   AND conname = 'provider_api_keys_disabled_reason_format') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_disabled_reason_format
            CHECK (char_length(disabled_reason) <= 200 AND disabled_reason !~ '[[:cntrl:]]') NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.provider_api_keys'::regclass
                   AND conname = 'provider_api_keys_health_values') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_health_values
            CHECK (consecutive_failures >= 0 AND last_status BETWEEN 100 AND 599) NOT VALID;
    END IF;
END
$$;

ALTER TABLE public.provider_api_keys VALIDATE CONSTRAINT provider_api_keys_label_format;
ALTER TABLE public.provider_api_keys VALIDATE CONSTRAINT provider_api_keys_disabled_reason_format;
ALTER TABLE public.provider_api_keys VALIDATE CONSTRAINT provider_api_keys_health_values;

-- The enabled keys of a provider by the end of their cooldown: the available ones are one range
-- of it (cooldown_until <= now()), the soonest-ending cooldown its first entry after now().
CREATE INDEX IF NOT EXISTS provider_api_keys_enabled_by_cooldown
    ON public.provider_api_keys (provider_id, cooldown_until)
    WHERE disabled_at IS NULL;

-- Functions -----------------------------------------------------------------------------------
-- Same names, parameters and return types as in 021; CREATE OR REPLACE keeps their grants.

CREATE OR REPLACE FUNCTION public.get_api_key(p_provider_name text, p_key_number integer)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    -- Cooling down does not matter for an explicit pick; disabled and expired keys are refused.
    RETURN (
        SELECT k.api_key
        FROM public.provider_api_keys AS k
        JOIN public.providers AS p ON p.id = k.provider_id
        WHERE p.provider_name = lower(p_provider_name)
          AND k.key_number = p_key_number
          AND k.disabled_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
    );
END
$$;

COMMENT ON FUNCTION public.get_api_key(text, integer) IS
    'The key with this number for this provider (name case-insensitive), or NULL when there is none or it is disabled or expired.';

-- Uniform over the provider's available keys, without reading them all:
-- 1. Draw four numbers between the lowest and highest and probe them in one statement (with the
--    provider and its number range); the first drawn that is an available key is the answer.
--    That is rejection sampling, four tries at a time: every available key is accepted with the
--    same probability, so the pick is uniform. Then 28 more tries in a second statement: with a
--    third of the keys available, all 32 miss once in a million calls.
-- 2. When they all miss (few keys available among many), pick by rank among the available keys,
--    read through the index of enabled keys by cooldown: uniform too, and it reads only the
--    enabled keys that are not cooling down, which are few when the tries missed.
-- 3. When no key is available but enabled, unexpired keys are cooling down, return the one
--    whose cooldown ends first: a pool under a 429 storm degrades instead of stopping.
-- NULL only when the provider has no enabled, unexpired key. Reads only: runs in a read-only
-- transaction and on a hot standby.
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
    v_key text;
    v_draws double precision[];
    v_draw double precision;
BEGIN
    FOR v_round IN 1..2 LOOP
        -- Drawn into variables first: random() inside the statement would be evaluated again
        -- for every row a scan visits, favouring the first rows. The first round's four are
        -- written out: building the array with a query costs more than the probes.
        IF v_round = 1 THEN
            v_draws := ARRAY[random(), random(), random(), random()];
        ELSE
            v_draws := ARRAY(SELECT random() FROM generate_series(1, 28));
        END IF;
        SELECT p.id, bounds.lowest, bounds.highest, probe.api_key
        INTO v_provider_id, v_lowest, v_highest, v_key
        FROM public.providers AS p
        CROSS JOIN LATERAL (
            SELECT min(k.key_number) AS lowest, max(k.key_number) AS highest
            FROM public.provider_api_keys AS k
            WHERE k.provider_id = p.id
        ) AS bounds
        LEFT JOIN LATERAL (
            SELECT k.api_key
            FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
            JOIN public.provider_api_keys AS k
              ON k.provider_id = p.id
             AND k.key_number = (bounds.lowest + floor(d.draw * (bounds.highest::bigint - bounds.lowest + 1)))::integer
            WHERE k.disabled_at IS NULL
              AND k.cooldown_until <= now()
              AND (k.expires_at IS NULL OR k.expires_at > now())
            ORDER BY d.position
            LIMIT 1
        ) AS probe ON true
        WHERE p.provider_name = lower(p_provider_name);
        IF v_key IS NOT NULL THEN
            RETURN v_key;
        END IF;
        IF v_lowest IS NULL THEN
            RETURN NULL;  -- no such provider, or no keys
        END IF;
    END LOOP;

    v_draw := random();
    SELECT ranked.api_key INTO v_key
    FROM (
        SELECT k.api_key, row_number() OVER (ORDER BY k.key_number) AS rank, count(*) OVER () AS total
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id
          AND k.disabled_at IS NULL
          AND k.cooldown_until <= now()
          AND (k.expires_at IS NULL OR k.expires_at > now())
    ) AS ranked
    WHERE ranked.rank = 1 + floor(v_draw * ranked.total);
    IF FOUND THEN
        RETURN v_key;
    END IF;

    SELECT k.api_key INTO v_key
    FROM public.provider_api_keys AS k
    WHERE k.provider_id = v_provider_id
      AND k.disabled_at IS NULL
      AND k.cooldown_until > now()
      AND (k.expires_at IS NULL OR k.expires_at > now())
    ORDER BY k.cooldown_until
    LIMIT 1;
    RETURN v_key;  -- NULL when no key is enabled and unexpired
END
$$;

COMMENT ON FUNCTION public.get_random_api_key(text) IS
    'A uniformly random available key of this provider (name case-insensitive); when none is available, the key whose cooldown ends first; NULL when no key is enabled and unexpired.';

-- What a backend saw when it used a key. Finds the key by the hash index (backends have the
-- key, not its number) and returns its state afterwards: available, cooling_down, disabled or
-- expired; NULL when the key is not in the provider's pool.
--   2xx      clears the failure count and any cooldown; writes nothing when there is nothing
--            to clear, so healthy keys do not turn every request into a row update.
--   429      cooling down for p_retry_after_seconds (capped at one day) when given and
--            positive, else 10 s doubled for each consecutive failure, at most 10 minutes.
--   401, 402, 403  disabled automatically ("HTTP 401 reported at ..."); only an operator
--            enables it again.
--   408, 5xx counted; from the third in a row, a 30 s cooldown.
--   other    the request's fault, not the key's: nothing changes.
-- A report never shortens a cooldown already set (greatest()), and each report is one UPDATE
-- of one row, so concurrent reports queue on that row and cannot deadlock. The state is
-- written here as in keyadmin's listings (KeySQL.state); a test compares the two.
CREATE OR REPLACE FUNCTION public.report_api_key_result(
    p_provider_name text,
    p_api_key text,
    p_http_status integer,
    p_retry_after_seconds integer DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_kind text := CASE
        WHEN p_http_status BETWEEN 200 AND 299 THEN 'success'
        WHEN p_http_status = 429 THEN 'rate_limited'
        WHEN p_http_status IN (401, 402, 403) THEN 'refused'
        WHEN p_http_status = 408 OR p_http_status BETWEEN 500 AND 599 THEN 'failed'
        ELSE 'not_the_key'
    END;
    v_state text;
BEGIN
    IF p_http_status IS NULL OR p_http_status NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'p_http_status must be an HTTP status code from 100 to 599'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- One UPDATE for every status that changes something: it finds the key through the hash
    -- index and returns the state afterwards. The right-hand sides all read the row as it was.
    IF v_kind <> 'not_the_key' THEN
        UPDATE public.provider_api_keys AS k
        SET consecutive_failures = CASE WHEN v_kind = 'success' THEN 0 ELSE k.consecutive_failures + 1 END,
            cooldown_until = CASE
                WHEN v_kind = 'success' THEN '-infinity'
                WHEN v_kind = 'rate_limited' THEN greatest(k.cooldown_until, now() + CASE
                    WHEN p_retry_after_seconds > 0 THEN make_interval(secs => least(p_retry_after_seconds, 86400))
                    ELSE make_interval(secs => least(600, 10 * power(2, least(k.consecutive_failures, 16))))
                END)
                WHEN v_kind = 'failed' AND k.consecutive_failures + 1 >= 3
                    THEN greatest(k.cooldown_until, now() + interval '30 seconds')
                ELSE k.cooldown_until
            END,
            disabled_at = CASE WHEN v_kind = 'refused' AND k.disabled_at IS NULL THEN now() ELSE k.disabled_at END,
            disabled_automatically = k.disabled_automatically OR (v_kind = 'refused' AND k.disabled_at IS NULL),
            disabled_reason = CASE WHEN v_kind = 'refused' AND k.disabled_at IS NULL
                                   THEN format('HTTP %s reported at %s', p_http_status,
                                               to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                                   ELSE k.disabled_reason END,
            disabled_by = CASE WHEN v_kind = 'refused' AND k.disabled_at IS NULL THEN session_user::text
                               ELSE k.disabled_by END,
            last_status = p_http_status,
            last_reported_at = now()
        FROM public.providers AS p
        WHERE sha256(decode(replace(k.api_key, E'\\', E'\\\\'), 'escape'))
              = sha256(decode(replace(p_api_key, E'\\', E'\\\\'), 'escape'))
          AND k.provider_id + 0 = p.id
          AND p.provider_name = lower(p_provider_name)
          -- A success on a healthy key writes nothing.
          AND (v_kind <> 'success' OR k.consecutive_failures <> 0 OR k.cooldown_until > now())
        RETURNING CASE
            WHEN k.disabled_at IS NOT NULL THEN 'disabled'
            WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
            WHEN k.cooldown_until > now() THEN 'cooling_down'
            ELSE 'available'
        END INTO v_state;
        IF FOUND THEN
            RETURN v_state;
        END IF;
    END IF;

    -- Nothing to change, or the key is not in the pool (NULL).
    SELECT CASE
               WHEN k.disabled_at IS NOT NULL THEN 'disabled'
               WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
               WHEN k.cooldown_until > now() THEN 'cooling_down'
               ELSE 'available'
           END
    INTO v_state
    FROM public.provider_api_keys AS k
    JOIN public.providers AS p ON p.id = k.provider_id + 0
    WHERE sha256(decode(replace(k.api_key, E'\\', E'\\\\'), 'escape'))
          = sha256(decode(replace(p_api_key, E'\\', E'\\\\'), 'escape'))
      AND p.provider_name = lower(p_provider_name);
    RETURN v_state;
END
$$;

COMMENT ON FUNCTION public.report_api_key_result(text, text, integer, integer) IS
    'Records what a backend saw using a key (HTTP status, Retry-After seconds) and returns the key''s state afterwards, or NULL when the key is not in the pool.';

-- Security: like 021's functions, the service role only.
REVOKE ALL ON FUNCTION public.report_api_key_result(text, text, integer, integer) FROM PUBLIC;

DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION public.report_api_key_result(text, text, integer, integer) FROM %I', v_role);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT EXECUTE ON FUNCTION public.report_api_key_result(text, text, integer, integer) TO service_role;
    END IF;
END
$$;
