-- 033_usage_and_accounts.sql
--
-- Usage and limits the way providers count them.
--
-- 1. Accounts. provider_api_keys.account names the provider's project or organisation a key
--    belongs to (NULL: the key is an account of its own). Providers count rate limits per
--    account, so a 429 reported for one key cools every enabled key of the same provider and
--    account until the same time, and an exhaustion exhausts them all. Such a spread is one
--    event (account_cooled, account_exhausted), bounded as 027 bounds events about many keys.
-- 2. Reset zones. providers.reset_zone: the time zone whose midnight resets the provider's daily
--    quotas (NULL: America/Los_Angeles for providers named google or gemini, whose per-day
--    quotas reset at midnight Pacific time; UTC for the rest), and reset_zone_in_effect, the
--    generated column that says which. The server computes the next midnight there, across
--    daylight-saving changes.
-- 3. Exhausted keys. provider_api_keys.exhausted_until: the key rests until its provider's next
--    reset. Its cooldown_until is set to the same time, so the picks skip it as they skip a
--    cooling key (they read nothing new, and the degrade rule is unchanged); its state is
--    'exhausted' until then. A success reported for it leaves it resting.
-- 4. report_api_key_result takes two more optional parameters: p_tokens (tokens the request
--    used) and p_window ('minute' or 'day': which limit the provider said a 429 was about; on a
--    2xx, that the provider said this window has nothing left, so the key rests before it meets
--    a 429). A 429 or a 2xx with p_window => 'day' exhausts the key and its account until the
--    reset; a 2xx with p_window => 'minute' rests them p_retry_after_seconds (60 when not
--    given). Calls with four arguments or fewer, by position or by name, behave as before.
-- 5. Counting. Every report counts, per key and per day of the provider's reset zone: requests
--    by outcome and tokens, in keyadmin.key_usage (a table of its own: the picks never read or
--    lock it; no API role is granted it). keyadmin --check's probes are not counted (a model
--    list is not a request against a quota). A report that changes nothing else commits its count
--    asynchronously when its transaction had written nothing before (a crash may lose the
--    last fraction of a second of counts; a change of state and its event stay durable).
-- 6. Quotas. providers.requests_per_day and tokens_per_day: a daily budget for each account of
--    the provider (requests: every reported request but a 429). The report that reaches it
--    exhausts the account until the reset. Per-account counts are kept only while a quota is
--    set (keyadmin.account_usage).
-- 7. keyadmin.usage_pruned keeps, per provider, what pruned usage days had counted, so that
--    totals (Prometheus counters) never decrease; keyadmin.prune_usage() prunes (keyadmin
--    --prune-usage, or a pg_cron schedule). keyadmin.usage_days holds each finished day's sums
--    per provider, written by keyadmin --metrics, so that it reads a few rows per day.
--
-- Writes to the usage tables go through two SECURITY DEFINER functions the service role may call
-- (keyadmin.count_report, keyadmin.rest_account); the report itself stays SECURITY INVOKER.
--
-- The key table gains two nullable columns (no rewrite), the provider table three. The report
-- keeps its name and its first four parameters; its old four-parameter form is dropped so that
-- calls with four arguments are not ambiguous, and EXECUTE is granted to the service role again.
-- Idempotent. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

ALTER TABLE public.provider_api_keys
    ADD COLUMN IF NOT EXISTS account text,
    ADD COLUMN IF NOT EXISTS exhausted_until timestamptz;

ALTER TABLE public.providers
    ADD COLUMN IF NOT EXISTS reset_zone text,
    ADD COLUMN IF NOT EXISTS requests_per_day bigint,
    ADD COLUMN IF NOT EXISTS tokens_per_day bigint,
    -- The built-in default written once, kept by the server: every reader (the report, the
    -- pruning, keyadmin's listings) reads this column rather than a copy of the rule.
    ADD COLUMN IF NOT EXISTS reset_zone_in_effect text NOT NULL GENERATED ALWAYS AS (
        coalesce(reset_zone, CASE WHEN provider_name IN ('google', 'gemini') THEN 'America/Los_Angeles' ELSE 'UTC' END)
    ) STORED;

COMMENT ON COLUMN public.provider_api_keys.account IS
    'The provider''s project or organisation the key belongs to, whose limits it shares; NULL: an account of its own.';
COMMENT ON COLUMN public.provider_api_keys.exhausted_until IS
    'The key (and its account) used up a daily limit: it rests until this reset of its provider (cooldown_until is set to the same time).';
COMMENT ON COLUMN public.providers.reset_zone IS
    'IANA time zone whose midnight resets the provider''s daily quotas; NULL: America/Los_Angeles for google and gemini, UTC otherwise.';
COMMENT ON COLUMN public.providers.reset_zone_in_effect IS
    'The zone whose midnight resets the daily quotas: reset_zone, or the built-in default (generated).';
COMMENT ON COLUMN public.providers.requests_per_day IS
    'Daily budget of requests (all but 429s) for each account of the provider; NULL: none.';
COMMENT ON COLUMN public.providers.tokens_per_day IS
    'Daily budget of tokens for each account of the provider; NULL: none.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'provider_api_keys_account_format') THEN
        -- Printable, at most 100 characters, no surrounding spaces: a name an operator can type.
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_account_format
            CHECK (char_length(account) BETWEEN 1 AND 100 AND account !~ '[[:cntrl:]]'
                   AND account = btrim(account)) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'providers_usage_policy') THEN
        -- A zone the server knows (AT TIME ZONE raises for any other), quotas above zero.
        ALTER TABLE public.providers ADD CONSTRAINT providers_usage_policy
            CHECK ((reset_zone IS NULL OR ('2000-01-01 00:00+00'::timestamptz AT TIME ZONE reset_zone) IS NOT NULL)
                   AND requests_per_day > 0 AND tokens_per_day > 0) NOT VALID;
    END IF;
END
$$;

ALTER TABLE public.provider_api_keys VALIDATE CONSTRAINT provider_api_keys_account_format;
ALTER TABLE public.providers VALIDATE CONSTRAINT providers_usage_policy;

-- The keys of an account: one range. Small: only keys that have an account are in it.
CREATE INDEX IF NOT EXISTS provider_api_keys_account
    ON public.provider_api_keys (provider_id, account)
    WHERE account IS NOT NULL;

-- Per key and day: the report's upsert finds its row by the primary key; --usage and --metrics
-- read a provider's days by the second index. Counters change in place (fillfactor leaves room
-- for HOT updates, which touch no index). No foreign keys: a deleted key's usage stays the
-- provider's usage until it is pruned, and a provider's rows go with it through a trigger below.
-- (A foreign key to providers made every new row take a KEY SHARE lock on the provider's row,
-- which eight backends at once turned into a new MultiXact per report.)
CREATE TABLE IF NOT EXISTS keyadmin.key_usage (
    key_id integer NOT NULL,
    day date NOT NULL,
    provider_id integer NOT NULL,
    succeeded integer NOT NULL DEFAULT 0,
    rate_limited integer NOT NULL DEFAULT 0,
    refused integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    other integer NOT NULL DEFAULT 0,
    tokens bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
) WITH (fillfactor = 70);

CREATE INDEX IF NOT EXISTS key_usage_provider_day ON keyadmin.key_usage (provider_id, day);

COMMENT ON TABLE keyadmin.key_usage IS
    'Reported requests per key and day of the provider''s reset zone, by outcome (2xx, 429, 401/402/403, 408/5xx, other), and tokens. Written by report_api_key_result only.';

CREATE TABLE IF NOT EXISTS keyadmin.account_usage (
    provider_id integer NOT NULL,
    account text NOT NULL,
    day date NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    tokens bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (provider_id, account, day)
) WITH (fillfactor = 70);

COMMENT ON TABLE keyadmin.account_usage IS
    'Requests (all but 429s) and tokens per account and day, kept while the provider has a quota: what the quota is compared with.';

CREATE TABLE IF NOT EXISTS keyadmin.usage_pruned (
    provider_id integer PRIMARY KEY,
    succeeded bigint NOT NULL DEFAULT 0,
    rate_limited bigint NOT NULL DEFAULT 0,
    refused bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    other bigint NOT NULL DEFAULT 0,
    tokens bigint NOT NULL DEFAULT 0
);

COMMENT ON TABLE keyadmin.usage_pruned IS
    'What pruned usage days had counted, per provider: totals are this plus keyadmin.key_usage, so they never decrease.';

-- Per provider and finished day (two days back in its zone, so that no report can still land on
-- it): the sums of that day's rows, written by keyadmin --metrics as days finish, so that the
-- totals it exports read a few rows per provider and only the last two days' key rows.
CREATE TABLE IF NOT EXISTS keyadmin.usage_days (
    provider_id integer NOT NULL,
    day date NOT NULL,
    succeeded bigint NOT NULL,
    rate_limited bigint NOT NULL,
    refused bigint NOT NULL,
    failed bigint NOT NULL,
    other bigint NOT NULL,
    tokens bigint NOT NULL,
    PRIMARY KEY (provider_id, day)
);

COMMENT ON TABLE keyadmin.usage_days IS
    'Sums of keyadmin.key_usage per provider and finished day, kept by keyadmin --metrics; pruned with the days they sum.';

REVOKE ALL ON TABLE keyadmin.key_usage, keyadmin.account_usage, keyadmin.usage_pruned, keyadmin.usage_days FROM PUBLIC;
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON TABLE keyadmin.key_usage, keyadmin.account_usage, keyadmin.usage_pruned, '
                           'keyadmin.usage_days FROM %I', v_role);
        END IF;
    END LOOP;
END
$$;

-- A provider deleted takes its usage with it (its keys go by their foreign key).
CREATE OR REPLACE FUNCTION keyadmin.forget_provider_usage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    DELETE FROM keyadmin.key_usage WHERE provider_id = OLD.id;
    DELETE FROM keyadmin.account_usage WHERE provider_id = OLD.id;
    DELETE FROM keyadmin.usage_pruned WHERE provider_id = OLD.id;
    DELETE FROM keyadmin.usage_days WHERE provider_id = OLD.id;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.forget_provider_usage() FROM PUBLIC;

DROP TRIGGER IF EXISTS usage_provider_deleted ON public.providers;
CREATE TRIGGER usage_provider_deleted AFTER DELETE ON public.providers
    FOR EACH ROW EXECUTE FUNCTION keyadmin.forget_provider_usage();

-- Deletes the usage days before p_before's date in each provider's reset zone, adds what they
-- counted to keyadmin.usage_pruned first (so totals never decrease), and records one
-- usage_pruned event; returns how many key-days went. keyadmin --prune-usage calls it; so can a
-- pg_cron schedule (docs/monitoring.md). Its owner's only: no API role may execute it.
CREATE OR REPLACE FUNCTION keyadmin.prune_usage(p_before timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_deleted integer;
BEGIN
    -- keyadmin --metrics sums finished days under the same lock: a day it summed while this
    -- pruning moved its rows to usage_pruned would be counted twice.
    PERFORM pg_advisory_xact_lock(hashtext('keyadmin.usage_days'));
    WITH gone AS (
        DELETE FROM keyadmin.key_usage AS u
        USING public.providers AS p
        WHERE p.id = u.provider_id
          AND u.day < (p_before AT TIME ZONE p.reset_zone_in_effect)::date
        RETURNING u.*
    ),
    per_provider AS (
        SELECT g.provider_id, count(*) AS days, sum(g.succeeded) AS succeeded, sum(g.rate_limited) AS rate_limited,
               sum(g.refused) AS refused, sum(g.failed) AS failed, sum(g.other) AS other, sum(g.tokens) AS tokens
        FROM gone AS g
        GROUP BY g.provider_id
    ),
    kept AS (
        INSERT INTO keyadmin.usage_pruned AS t (provider_id, succeeded, rate_limited, refused, failed, other, tokens)
        SELECT provider_id, succeeded, rate_limited, refused, failed, other, tokens FROM per_provider
        ON CONFLICT (provider_id) DO UPDATE
        SET succeeded = t.succeeded + excluded.succeeded, rate_limited = t.rate_limited + excluded.rate_limited,
            refused = t.refused + excluded.refused, failed = t.failed + excluded.failed,
            other = t.other + excluded.other, tokens = t.tokens + excluded.tokens
        RETURNING 1
    )
    SELECT coalesce(sum(days), 0)::integer INTO v_deleted FROM per_provider;
    -- The sums of those days (usage_pruned has them now) and their per-account counts go too.
    DELETE FROM keyadmin.usage_days AS d
    USING public.providers AS p
    WHERE p.id = d.provider_id
      AND d.day < (p_before AT TIME ZONE p.reset_zone_in_effect)::date;
    DELETE FROM keyadmin.account_usage AS a
    USING public.providers AS p
    WHERE p.id = a.provider_id
      AND a.day < (p_before AT TIME ZONE p.reset_zone_in_effect)::date;
    INSERT INTO keyadmin.key_events (action, detail, actor, db_role, application_name, client_address)
    VALUES ('usage_pruned',
            jsonb_build_object('before', to_char(p_before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                               'deleted', v_deleted),
            coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
            session_user, current_setting('application_name', true), inet_client_addr());
    RETURN v_deleted;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.prune_usage(timestamptz) FROM PUBLIC;

-- The next midnight in a zone, as a timestamptz: local midnight of the next local day, converted
-- back (so a day of 23 or 25 hours ends at the right instant). The report calls it when a day's
-- limit is used up (not on its hot path).
CREATE OR REPLACE FUNCTION keyadmin.next_reset(p_zone text, p_at timestamptz DEFAULT now())
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$ SELECT (pg_catalog.date_trunc('day', p_at AT TIME ZONE p_zone) + interval '1 day') AT TIME ZONE p_zone $$;

-- Counts one report; returns the requests (all but 429s) and tokens counted today for what the
-- quota applies to (the account when the key has one and p_count_account, else the key).
-- SECURITY DEFINER: the usage tables are granted to no API role; the service role may call this
-- (and nothing else of them). (Doing the report's lookup here too, in one statement with the
-- upsert, measured slower: a data-modifying CTE and a function returning a row cost more than
-- the statement they save.)
CREATE OR REPLACE FUNCTION keyadmin.count_report(
    p_key_id integer, p_provider_id integer, p_day date, p_kind text, p_tokens integer,
    p_account text, p_count_account boolean
)
RETURNS bigint[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_usage bigint[];
BEGIN
    INSERT INTO keyadmin.key_usage AS u
        (key_id, day, provider_id, succeeded, rate_limited, refused, failed, other, tokens)
    VALUES (p_key_id, p_day, p_provider_id,
            (p_kind = 'success')::integer, (p_kind = 'rate_limited')::integer, (p_kind = 'refused')::integer,
            (p_kind = 'failed')::integer, (p_kind = 'not_the_key')::integer, coalesce(p_tokens, 0))
    ON CONFLICT (key_id, day) DO UPDATE
    SET succeeded = u.succeeded + excluded.succeeded, rate_limited = u.rate_limited + excluded.rate_limited,
        refused = u.refused + excluded.refused, failed = u.failed + excluded.failed,
        other = u.other + excluded.other, tokens = u.tokens + excluded.tokens
    RETURNING ARRAY[u.succeeded + u.refused + u.failed + u.other, u.tokens]::bigint[] INTO v_usage;
    IF p_count_account AND p_account IS NOT NULL THEN
        INSERT INTO keyadmin.account_usage AS a (provider_id, account, day, requests, tokens)
        VALUES (p_provider_id, p_account, p_day, (p_kind <> 'rate_limited')::integer, coalesce(p_tokens, 0))
        ON CONFLICT (provider_id, account, day) DO UPDATE
        SET requests = a.requests + excluded.requests, tokens = a.tokens + excluded.tokens
        RETURNING ARRAY[a.requests, a.tokens] INTO v_usage;
    END IF;
    RETURN v_usage;
END
$$;

-- Rests the account of key p_key_id (every enabled key of the same provider and account; the key
-- alone when it has none) until p_until: exhausted when p_exhausted, else cooling down. The key
-- itself is included for an exhaustion (its own report already cooled it otherwise). One event
-- for the spread, with the first 100 key numbers and fingerprints; the row trigger records none
-- for the keys it moves (keyadmin.spreading). SECURITY DEFINER for the event (the service role
-- may only read the trail).
CREATE OR REPLACE FUNCTION keyadmin.rest_account(
    p_key_id integer, p_provider_id integer, p_account text, p_until timestamptz, p_exhausted boolean, p_detail jsonb
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer := p_provider_id;
    v_account text := p_account;
    v_rested jsonb;
BEGIN
    PERFORM pg_catalog.set_config('keyadmin.spreading', 'on', true);
    -- SKIP LOCKED: a sibling another report holds is left to that report (never a wait here, so
    -- two 429s of one account at once cannot deadlock, each holding its own key).
    WITH rested AS (
        UPDATE public.provider_api_keys AS k
        SET cooldown_until = greatest(k.cooldown_until, p_until),
            exhausted_until = CASE WHEN p_exhausted THEN p_until ELSE k.exhausted_until END
        WHERE k.id IN (
            SELECT s.id
            FROM public.provider_api_keys AS s
            WHERE s.provider_id = v_provider_id
              AND ((v_account IS NULL AND s.id = p_key_id)
                   OR (s.account = v_account AND (p_exhausted OR s.id <> p_key_id)))
              AND s.disabled_at IS NULL
              AND (s.cooldown_until < p_until OR (p_exhausted AND s.exhausted_until IS DISTINCT FROM p_until))
            FOR NO KEY UPDATE SKIP LOCKED
        )
        RETURNING k.key_number, k.api_key
    )
    SELECT jsonb_build_object(
               'key_count', count(*),
               'key_numbers', to_jsonb((array_agg(r.key_number ORDER BY r.key_number))[1:100]),
               'fingerprints', to_jsonb((array_agg(
                   left(encode(sha256(decode(replace(r.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12)
                   ORDER BY r.key_number))[1:100]),
               'keys_omitted', greatest(count(*) - 100, 0))
    INTO v_rested
    FROM rested AS r;
    PERFORM pg_catalog.set_config('keyadmin.spreading', '', true);
    IF (v_rested ->> 'key_count')::integer > 0 THEN
        INSERT INTO keyadmin.key_events
            (action, provider_name, key_number, detail, state_after, actor, db_role, application_name, client_address)
        SELECT CASE WHEN v_account IS NULL THEN 'key_exhausted'
                    WHEN p_exhausted THEN 'account_exhausted' ELSE 'account_cooled' END, p.provider_name,
               CASE WHEN v_account IS NULL THEN (v_rested -> 'key_numbers' ->> 0)::integer END,
               jsonb_strip_nulls(jsonb_build_object('account', v_account, 'until', p_until) || p_detail || v_rested),
               CASE WHEN p_exhausted THEN 'exhausted' ELSE 'cooling_down' END,
               coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
               session_user, current_setting('application_name', true), inet_client_addr()
        FROM public.providers AS p WHERE p.id = v_provider_id;
    END IF;
    RETURN (v_rested ->> 'key_count')::integer;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.count_report(integer, integer, date, text, integer, text, boolean),
    keyadmin.rest_account(integer, integer, text, timestamptz, boolean, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION keyadmin.next_reset(text, timestamptz) FROM PUBLIC;

-- The report. Its old four-parameter form goes first: beside the new one, a call with four
-- arguments would match both.
DROP FUNCTION IF EXISTS public.report_api_key_result(text, text, integer, integer);

CREATE OR REPLACE FUNCTION public.report_api_key_result(
    p_provider_name text,
    p_api_key text,
    p_http_status integer,
    p_retry_after_seconds integer DEFAULT NULL,
    p_tokens integer DEFAULT NULL,
    p_window text DEFAULT NULL
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
    v_id integer;
    v_provider_id integer;
    v_account text;
    v_zone text;
    v_requests_quota bigint;
    v_tokens_quota bigint;
    v_state text;
    v_changes boolean;
    v_cooled_until timestamptz;
    v_reset timestamptz;
    v_usage bigint[];
    v_rest_seconds integer;
BEGIN
    IF p_http_status IS NULL OR p_http_status NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'p_http_status must be an HTTP status code from 100 to 599'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_tokens < 0 THEN
        RAISE EXCEPTION 'p_tokens must be zero or more (the tokens the request used), or NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_window IS NOT NULL AND p_window NOT IN ('minute', 'day') THEN
        RAISE EXCEPTION 'p_window must be ''minute'' or ''day'' (which limit the provider named), or NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The key, its provider and what its report has to change: one probe of the hash index.
    SELECT k.id, k.provider_id, k.account,
           p.reset_zone_in_effect,
           p.requests_per_day, p.tokens_per_day,
           CASE
               WHEN k.disabled_at IS NOT NULL THEN 'disabled'
               WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
               WHEN k.exhausted_until > now() THEN 'exhausted'
               WHEN k.cooldown_until > now() THEN 'cooling_down'
               ELSE 'available'
           END,
           CASE v_kind
               -- A success on a healthy key (or on a resting exhausted one) writes nothing to it.
               WHEN 'success' THEN p_window IS NOT NULL OR k.consecutive_failures <> 0
                                   OR (k.cooldown_until > now() AND NOT coalesce(k.exhausted_until > now(), false))
               WHEN 'not_the_key' THEN false
               ELSE true
           END
    INTO v_id, v_provider_id, v_account, v_zone, v_requests_quota, v_tokens_quota, v_state, v_changes
    FROM public.provider_api_keys AS k
    JOIN public.providers AS p ON p.id = k.provider_id + 0
    WHERE sha256(decode(replace(k.api_key, E'\\', E'\\\\'), 'escape'))
          = sha256(decode(replace(p_api_key, E'\\', E'\\\\'), 'escape'))
      AND p.provider_name = lower(p_provider_name);
    IF NOT FOUND THEN
        RETURN NULL;  -- not in the pool: nothing to change, nothing counted
    END IF;

    IF v_changes THEN
        -- A change of state stays durable even when an earlier report of this transaction
        -- (a batch) chose an asynchronous commit for its count: back to the session's setting.
        IF current_setting('synchronous_commit') = 'off' THEN
            PERFORM set_config('synchronous_commit', s.reset_val, true)
            FROM pg_catalog.pg_settings AS s WHERE s.name = 'synchronous_commit';
        END IF;
        v_rest_seconds := CASE WHEN p_retry_after_seconds > 0 THEN least(p_retry_after_seconds, 86400) ELSE 60 END;
        -- The right-hand sides all read the row as it is when locked. A per-day limit is left to
        -- the exhaustion below; this sets the key's own health, as before.
        UPDATE public.provider_api_keys AS k
        SET consecutive_failures = CASE WHEN v_kind = 'success' THEN 0 ELSE k.consecutive_failures + 1 END,
            cooldown_until = CASE
                WHEN p_window = 'day' AND v_kind IN ('success', 'rate_limited') THEN k.cooldown_until
                WHEN v_kind = 'success' AND p_window = 'minute'
                    THEN greatest(k.cooldown_until, now() + make_interval(secs => v_rest_seconds))
                WHEN v_kind = 'success' THEN CASE WHEN k.exhausted_until > now() THEN k.cooldown_until ELSE '-infinity' END
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
            disabled_by = CASE WHEN v_kind = 'refused' AND k.disabled_at IS NULL
                               THEN coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text)
                               ELSE k.disabled_by END,
            last_status = p_http_status,
            last_reported_at = now()
        WHERE k.id = v_id
        RETURNING CASE
            WHEN k.disabled_at IS NOT NULL THEN 'disabled'
            WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
            WHEN k.exhausted_until > now() THEN 'exhausted'
            WHEN k.cooldown_until > now() THEN 'cooling_down'
            ELSE 'available'
        END, CASE WHEN k.cooldown_until > now() THEN k.cooldown_until END
        INTO v_state, v_cooled_until;
    ELSIF pg_current_xact_id_if_assigned() IS NULL THEN
        -- Only the count is written, and nothing before it in this transaction: its commit need
        -- not wait for the disk. Transaction-local, and undone below if a change follows.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;

    -- keyadmin --check's probes (a model list, which no provider counts against a quota) set
    -- keyadmin.probe: their answers change the keys' health, not the usage.
    IF current_setting('keyadmin.probe', true) IS DISTINCT FROM 'on' THEN
        v_usage := keyadmin.count_report(v_id, v_provider_id, (now() AT TIME ZONE v_zone)::date, v_kind, p_tokens,
                                         v_account, v_requests_quota IS NOT NULL OR v_tokens_quota IS NOT NULL);
    END IF;

    IF v_state IN ('disabled', 'expired') THEN
        RETURN v_state;
    END IF;
    IF (p_window = 'day' AND v_kind IN ('success', 'rate_limited'))
       OR v_usage[1] >= v_requests_quota OR v_usage[2] >= v_tokens_quota THEN
        -- The provider's day (or the quota) is used up: the account rests until the reset.
        IF current_setting('synchronous_commit') = 'off' THEN
            PERFORM set_config('synchronous_commit', s.reset_val, true)
            FROM pg_catalog.pg_settings AS s WHERE s.name = 'synchronous_commit';
        END IF;
        v_reset := keyadmin.next_reset(v_zone, now());
        PERFORM keyadmin.rest_account(v_id, v_provider_id, v_account, v_reset, true, jsonb_build_object(
            'cause', CASE WHEN p_window = 'day' AND v_kind IN ('success', 'rate_limited') THEN 'provider' ELSE 'quota' END,
            'http_status', p_http_status, 'requests_today', v_usage[1], 'tokens_today', v_usage[2],
            'requests_per_day', v_requests_quota, 'tokens_per_day', v_tokens_quota, 'reset_zone', v_zone));
        RETURN 'exhausted';
    END IF;
    IF v_account IS NOT NULL AND v_cooled_until IS NOT NULL
       AND (v_kind = 'rate_limited' OR (v_kind = 'success' AND p_window = 'minute')) THEN
        -- The account's limit, not the key's: its siblings rest until the same time.
        PERFORM keyadmin.rest_account(v_id, v_provider_id, v_account, v_cooled_until, false,
                                      jsonb_build_object('http_status', p_http_status));
    END IF;
    RETURN v_state;
END
$$;

COMMENT ON FUNCTION public.report_api_key_result(text, text, integer, integer, integer, text) IS
    'Records what a provider answered for a key: 2xx heals it, 429 cools it (and its account; p_window => ''day'' exhausts them until the provider''s reset), 401/402/403 disable it, repeated 408/5xx cool it; counts the request and p_tokens for the day. Returns the key''s state, NULL when it is not in the pool.';

REVOKE ALL ON FUNCTION public.report_api_key_result(text, text, integer, integer, integer, text) FROM PUBLIC;
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION public.report_api_key_result(text, text, integer, integer, integer, text) FROM %I', v_role);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT EXECUTE ON FUNCTION public.report_api_key_result(text, text, integer, integer, integer, text),
            keyadmin.count_report(integer, integer, date, text, integer, text, boolean),
            keyadmin.rest_account(integer, integer, text, timestamptz, boolean, jsonb),
            keyadmin.next_reset(text, timestamptz) TO service_role;
    END IF;
END
$$;

-- A key's own changes, as in 029, with its account, its exhaustion and the 'exhausted' state;
-- the keys an account's spread moves are left to that spread's one event.
CREATE OR REPLACE FUNCTION keyadmin.record_key_updated()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_actions text[] := '{}';
    v_reasons text[] := '{}';
    v_details jsonb[] := '{}';
    v_spreading boolean := coalesce(current_setting('keyadmin.spreading', true) = 'on', false);
    v_provider text;
    v_fingerprint text;
    v_before text;
    v_after text;
BEGIN
    IF NEW.api_key IS DISTINCT FROM OLD.api_key THEN
        v_actions := v_actions || 'key_replaced'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('previous_fingerprint',
            left(encode(sha256(decode(replace(OLD.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12));
    END IF;
    IF OLD.disabled_at IS NULL AND NEW.disabled_at IS NOT NULL THEN
        v_actions := v_actions || CASE WHEN NEW.disabled_automatically THEN 'key_disabled_automatically'
                                       ELSE 'key_disabled' END;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || NULL::jsonb;
    END IF;
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NOT NULL
       AND NEW.disabled_reason IS DISTINCT FROM OLD.disabled_reason THEN
        v_actions := v_actions || 'disable_reason_set'::text;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || jsonb_build_object('previous_reason', OLD.disabled_reason);
    END IF;
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'key_enabled'::text;
        v_reasons := v_reasons || nullif(current_setting('keyadmin.reason', true), '');
        v_details := v_details || NULL::jsonb;
    END IF;
    IF NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        v_actions := v_actions || 'expiry_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('expires_at', NEW.expires_at);
    END IF;
    IF NEW.label IS DISTINCT FROM OLD.label THEN
        v_actions := v_actions || 'label_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('label', NEW.label);
    END IF;
    IF NEW.account IS DISTINCT FROM OLD.account THEN
        v_actions := v_actions || 'account_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('account', NEW.account, 'previous_account', OLD.account);
    END IF;
    IF NOT v_spreading AND OLD.cooldown_until <= now() AND NEW.cooldown_until > now() AND NEW.disabled_at IS NULL
       AND NOT coalesce(NEW.exhausted_until > now(), false) THEN
        v_actions := v_actions || 'cooldown_started'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('until', NEW.cooldown_until, 'http_status', NEW.last_status);
    END IF;
    IF NOT v_spreading AND NOT coalesce(OLD.exhausted_until > now(), false) AND NEW.exhausted_until > now()
       AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'key_exhausted'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('until', NEW.exhausted_until);
    END IF;
    -- An operator's --enable-key (or any writer) ended a rest before the reset.
    IF OLD.exhausted_until > now() AND NEW.exhausted_until IS NULL THEN
        v_actions := v_actions || 'exhaustion_cleared'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('was_until', OLD.exhausted_until);
    END IF;
    IF NEW.tier IS DISTINCT FROM OLD.tier THEN
        v_actions := v_actions || 'tier_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('tier', NEW.tier, 'previous_tier', OLD.tier);
    END IF;
    IF NEW.weight IS DISTINCT FROM OLD.weight THEN
        v_actions := v_actions || 'weight_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('weight', NEW.weight, 'previous_weight', OLD.weight);
    END IF;
    IF NEW.key_number IS DISTINCT FROM OLD.key_number THEN
        v_actions := v_actions || 'key_renumbered'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('previous_number', OLD.key_number);
    END IF;
    IF cardinality(v_actions) = 0 THEN
        RETURN NULL;  -- a key an account's spread moved: that spread's event says so
    END IF;

    v_provider := (SELECT p.provider_name FROM public.providers AS p WHERE p.id = NEW.provider_id);
    v_fingerprint := left(encode(sha256(decode(replace(NEW.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12);
    v_before := CASE WHEN OLD.disabled_at IS NOT NULL THEN 'disabled'
                 WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= now() THEN 'expired'
                 WHEN OLD.exhausted_until > now() THEN 'exhausted'
                 WHEN OLD.cooldown_until > now() THEN 'cooling_down'
                 ELSE 'available' END;
    v_after := CASE WHEN NEW.disabled_at IS NOT NULL THEN 'disabled'
                WHEN NEW.expires_at IS NOT NULL AND NEW.expires_at <= now() THEN 'expired'
                WHEN NEW.exhausted_until > now() THEN 'exhausted'
                WHEN NEW.cooldown_until > now() THEN 'cooling_down'
                ELSE 'available' END;
    FOR i IN 1..cardinality(v_actions) LOOP
        INSERT INTO keyadmin.key_events
            (action, provider_name, key_number, key_fingerprint, state_before, state_after, reason, detail,
             actor, db_role, application_name, client_address)
        VALUES (v_actions[i], v_provider, NEW.key_number, v_fingerprint, v_before, v_after, v_reasons[i], v_details[i],
                coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
                session_user, current_setting('application_name', true), inet_client_addr());
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS key_events_key_updated ON public.provider_api_keys;
CREATE TRIGGER key_events_key_updated AFTER UPDATE ON public.provider_api_keys
    FOR EACH ROW
    WHEN (NEW.api_key IS DISTINCT FROM OLD.api_key
          OR NEW.disabled_at IS DISTINCT FROM OLD.disabled_at
          OR NEW.disabled_reason IS DISTINCT FROM OLD.disabled_reason
          OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
          OR NEW.label IS DISTINCT FROM OLD.label
          OR NEW.key_number IS DISTINCT FROM OLD.key_number
          OR NEW.tier IS DISTINCT FROM OLD.tier
          OR NEW.weight IS DISTINCT FROM OLD.weight
          OR NEW.account IS DISTINCT FROM OLD.account
          -- The keys an account's spread rests are that spread's one event: the trigger is not
          -- even called for them (a call per key cost a 429 on an account of ten a third of its speed).
          OR (((OLD.cooldown_until <= now() AND NEW.cooldown_until > now())
               OR NEW.exhausted_until IS DISTINCT FROM OLD.exhausted_until)
              AND current_setting('keyadmin.spreading', true) IS DISTINCT FROM 'on'))
    EXECUTE FUNCTION keyadmin.record_key_updated();

-- A provider's reset zone or quotas changed: one event.
CREATE OR REPLACE FUNCTION keyadmin.record_usage_policy_set()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_events (action, provider_name, detail, actor, db_role, application_name, client_address)
    SELECT a.action, NEW.provider_name, a.detail,
           coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
           session_user, current_setting('application_name', true), inet_client_addr()
    FROM (VALUES
        ('reset_zone_set', NEW.reset_zone IS DISTINCT FROM OLD.reset_zone,
         jsonb_build_object('reset_zone', NEW.reset_zone, 'previous_reset_zone', OLD.reset_zone)),
        ('quota_set', NEW.requests_per_day IS DISTINCT FROM OLD.requests_per_day
                      OR NEW.tokens_per_day IS DISTINCT FROM OLD.tokens_per_day,
         jsonb_build_object('requests_per_day', NEW.requests_per_day, 'tokens_per_day', NEW.tokens_per_day,
                            'previous_requests_per_day', OLD.requests_per_day,
                            'previous_tokens_per_day', OLD.tokens_per_day))
    ) AS a (action, happened, detail)
    WHERE a.happened;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.record_usage_policy_set() FROM PUBLIC;

DROP TRIGGER IF EXISTS key_events_usage_policy_set ON public.providers;
CREATE TRIGGER key_events_usage_policy_set AFTER UPDATE OF reset_zone, requests_per_day, tokens_per_day
    ON public.providers
    FOR EACH ROW
    WHEN (NEW.reset_zone IS DISTINCT FROM OLD.reset_zone
          OR NEW.requests_per_day IS DISTINCT FROM OLD.requests_per_day
          OR NEW.tokens_per_day IS DISTINCT FROM OLD.tokens_per_day)
    EXECUTE FUNCTION keyadmin.record_usage_policy_set();
