-- 024_audit_trail.sql
--
-- Every change to providers and provider_api_keys, whoever makes it (keyadmin, psql, the SQL
-- editor, a backend's report), recorded in keyadmin.key_events by triggers, so no writer can
-- forget. An event never holds a key: only a fingerprint, the first 12 hex digits of the key's
-- SHA-256 (enough to tell two keys apart, far too little to find one).
--
-- Who: the database role, application_name, the client's address, and an actor name that
-- keyadmin sets per transaction (set_config('keyadmin.actor', ..., true): transaction-local, so
-- it works through PgBouncer in transaction mode); other writers are recorded by their role.
--
-- Inserts and deletes of keys are recorded by AFTER ... FOR EACH STATEMENT triggers with
-- transition tables (a bulk load is one statement per 10,000 keys); updates by an AFTER ROW
-- trigger whose WHEN clause skips the changes that are not events. A BEFORE ROW trigger on
-- provider_api_keys would make COPY insert row by row, and PostgreSQL then quotes whole input
-- lines (keys included) in the CONTEXT of any error during a load, in the server log too.
--
-- Append-only for everyone but the table's owner: the trigger functions write with the owner's
-- rights (SECURITY DEFINER, search_path pinned, not callable directly); nobody else may insert,
-- update or delete events. The schema keyadmin is not one the REST API exposes.
--
-- Idempotent; rewrites nothing; locks wait at most 300 ms. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

CREATE SCHEMA IF NOT EXISTS keyadmin;
REVOKE ALL ON SCHEMA keyadmin FROM PUBLIC;

CREATE TABLE IF NOT EXISTS keyadmin.key_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    action text NOT NULL,
    provider_name text,  -- NULL only for events about the trail itself (history_pruned)
    key_number integer,
    key_fingerprint text,
    state_before text,
    state_after text,
    reason text,
    -- Details of the action: a bulk load's count, number range and fingerprints; a new label or
    -- expiry; the fingerprint a replaced key had. Never a key.
    detail jsonb,
    actor text NOT NULL,
    db_role text NOT NULL,
    application_name text,
    client_address inet
);

COMMENT ON TABLE keyadmin.key_events IS
    'Every change to KeyAdmin''s providers and keys, by anyone; append-only but for its owner. Keys appear only as fingerprints (12 hex digits of their SHA-256).';

-- Newest first is the order of id (the history reads it backwards); no index on occurred_at,
-- which would cost every event an index entry for a filter (--since) that reads the newest
-- events anyway.
CREATE INDEX IF NOT EXISTS key_events_provider_key ON keyadmin.key_events (provider_name, key_number, occurred_at DESC);

-- Who made the change, in one place for every trigger.
CREATE OR REPLACE FUNCTION keyadmin.event_actor()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
    SELECT coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text)
$$;

-- The fingerprint: 12 hex digits of the SHA-256 the unique index is built on.
CREATE OR REPLACE FUNCTION keyadmin.key_fingerprint(p_api_key text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = ''
AS $$
    SELECT left(encode(sha256(decode(replace(p_api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12)
$$;

-- A key's state, in the words of report_api_key_result and keyadmin --list.
CREATE OR REPLACE FUNCTION keyadmin.key_state(
    p_disabled_at timestamptz, p_expires_at timestamptz, p_cooldown_until timestamptz
)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
    SELECT CASE
               WHEN p_disabled_at IS NOT NULL THEN 'disabled'
               WHEN p_expires_at IS NOT NULL AND p_expires_at <= now() THEN 'expired'
               WHEN p_cooldown_until > now() THEN 'cooling_down'
               ELSE 'available'
           END
$$;

-- Keys added: one event per key, or for a statement that adds more than 100 keys (a bulk load,
-- which keyadmin sends 10,000 keys at a time) one summary event per provider with the count, the
-- number range and every fingerprint, so that a load of 100,000 keys writes ten rows, not
-- 100,000. A number that had been deleted and gets a key again is "key_put_back".
CREATE OR REPLACE FUNCTION keyadmin.record_keys_inserted()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    -- One statement or the other: a command that adds one key plans only the first.
    IF (SELECT count(*) FROM inserted) <= 100 THEN
        INSERT INTO keyadmin.key_events
            (action, provider_name, key_number, key_fingerprint, state_after, detail,
             actor, db_role, application_name, client_address)
        SELECT CASE WHEN EXISTS (SELECT 1 FROM keyadmin.key_events AS e
                                 WHERE e.provider_name = p.provider_name AND e.key_number = n.key_number
                                   AND e.action = 'key_deleted')
                    THEN 'key_put_back' ELSE 'key_added' END,
               p.provider_name, n.key_number, keyadmin.key_fingerprint(n.api_key),
               keyadmin.key_state(n.disabled_at, n.expires_at, n.cooldown_until),
               jsonb_strip_nulls(jsonb_build_object('label', n.label, 'expires_at', n.expires_at)),
               keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
        FROM inserted AS n
        JOIN public.providers AS p ON p.id = n.provider_id;
    ELSE
        INSERT INTO keyadmin.key_events
            (action, provider_name, detail, actor, db_role, application_name, client_address)
        SELECT 'keys_added', p.provider_name,
               jsonb_build_object('count', count(*), 'first_number', min(n.key_number), 'last_number', max(n.key_number),
                                  'fingerprints', jsonb_agg(keyadmin.key_fingerprint(n.api_key) ORDER BY n.key_number)),
               keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
        FROM inserted AS n
        JOIN public.providers AS p ON p.id = n.provider_id
        GROUP BY p.provider_name;
    END IF;
    RETURN NULL;
END
$$;

-- Keys changed: an event for each change an operator or a backend cares about. A row trigger
-- whose WHEN clause (below) lets through only those changes: a report that only counts a
-- failure, a 2xx, or a 429 on a key already cooling down does not even call it. Plain IFs collect
-- the changes (simple expressions, no query planned for the kinds of change that did not happen).
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
    v_provider text;
    v_fingerprint text;
    v_before text;
    v_after text;
BEGIN
    IF NEW.api_key IS DISTINCT FROM OLD.api_key THEN
        v_actions := v_actions || 'key_replaced'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('previous_fingerprint', keyadmin.key_fingerprint(OLD.api_key));
    END IF;
    IF OLD.disabled_at IS NULL AND NEW.disabled_at IS NOT NULL THEN
        v_actions := v_actions || CASE WHEN NEW.disabled_automatically THEN 'key_disabled_automatically'
                                       ELSE 'key_disabled' END;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || NULL::jsonb;
    END IF;
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'key_enabled'::text;
        v_reasons := v_reasons || NULL::text;
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
    IF OLD.cooldown_until <= now() AND NEW.cooldown_until > now() AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'cooldown_started'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('until', NEW.cooldown_until, 'http_status', NEW.last_status);
    END IF;
    IF NEW.key_number IS DISTINCT FROM OLD.key_number THEN
        v_actions := v_actions || 'key_renumbered'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('previous_number', OLD.key_number);
    END IF;

    -- The columns every event of this row shares, computed once; then one INSERT per change
    -- (its plan is made once per session).
    v_provider := (SELECT p.provider_name FROM public.providers AS p WHERE p.id = NEW.provider_id);
    v_fingerprint := keyadmin.key_fingerprint(NEW.api_key);
    v_before := keyadmin.key_state(OLD.disabled_at, OLD.expires_at, OLD.cooldown_until);
    v_after := keyadmin.key_state(NEW.disabled_at, NEW.expires_at, NEW.cooldown_until);
    FOR i IN 1..coalesce(array_length(v_actions, 1), 0) LOOP
        INSERT INTO keyadmin.key_events
            (action, provider_name, key_number, key_fingerprint, state_before, state_after, reason, detail,
             actor, db_role, application_name, client_address)
        VALUES (v_actions[i], v_provider, NEW.key_number, v_fingerprint, v_before, v_after, v_reasons[i], v_details[i],
                keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr());
    END LOOP;
    RETURN NULL;
END
$$;

-- Keys deleted: one event per key, or a summary for more than 100 in one statement. Keys that go
-- with their provider are in the provider_deleted event instead (see below).
CREATE OR REPLACE FUNCTION keyadmin.record_keys_deleted()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    IF (SELECT count(*) FROM deleted) <= 100 THEN
        INSERT INTO keyadmin.key_events
            (action, provider_name, key_number, key_fingerprint, state_before,
             actor, db_role, application_name, client_address)
        SELECT 'key_deleted', p.provider_name, d.key_number, keyadmin.key_fingerprint(d.api_key),
               keyadmin.key_state(d.disabled_at, d.expires_at, d.cooldown_until),
               keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
        FROM deleted AS d
        JOIN public.providers AS p ON p.id = d.provider_id;
    ELSE
        INSERT INTO keyadmin.key_events
            (action, provider_name, detail, actor, db_role, application_name, client_address)
        SELECT 'keys_deleted', p.provider_name,
               jsonb_build_object('count', count(*), 'first_number', min(d.key_number), 'last_number', max(d.key_number),
                                  'fingerprints', jsonb_agg(keyadmin.key_fingerprint(d.api_key) ORDER BY d.key_number)),
               keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
        FROM deleted AS d
        JOIN public.providers AS p ON p.id = d.provider_id
        GROUP BY p.provider_name;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.record_providers_inserted()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_events (action, provider_name, actor, db_role, application_name, client_address)
    SELECT 'provider_added', n.provider_name,
           keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
    FROM inserted AS n;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.record_provider_renamed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_events (action, provider_name, detail, actor, db_role, application_name, client_address)
    VALUES ('provider_renamed', NEW.provider_name, jsonb_build_object('previous_name', OLD.provider_name),
            keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr());
    RETURN NULL;
END
$$;

-- A provider's deletion is recorded while its keys are still there (BEFORE, on providers: no
-- trigger of any kind before rows of provider_api_keys), with their count and fingerprints.
CREATE OR REPLACE FUNCTION keyadmin.record_provider_deleting()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_events (action, provider_name, detail, actor, db_role, application_name, client_address)
    SELECT 'provider_deleted', OLD.provider_name,
           jsonb_build_object('key_count', count(k.id),
                              'fingerprints', coalesce(jsonb_agg(keyadmin.key_fingerprint(k.api_key) ORDER BY k.key_number)
                                                       FILTER (WHERE k.id IS NOT NULL), '[]'::jsonb)),
           keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
    FROM (SELECT 1) AS one
    LEFT JOIN public.provider_api_keys AS k ON k.provider_id = OLD.id;
    RETURN OLD;
END
$$;

DROP TRIGGER IF EXISTS key_events_keys_inserted ON public.provider_api_keys;
CREATE TRIGGER key_events_keys_inserted AFTER INSERT ON public.provider_api_keys
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION keyadmin.record_keys_inserted();
-- Row-level, AFTER (which leaves COPY's batched inserts alone: it inserts, never updates), and
-- only for the changes that are events.
DROP TRIGGER IF EXISTS key_events_key_updated ON public.provider_api_keys;
CREATE TRIGGER key_events_key_updated AFTER UPDATE ON public.provider_api_keys
    FOR EACH ROW
    WHEN (NEW.api_key IS DISTINCT FROM OLD.api_key
          OR NEW.disabled_at IS DISTINCT FROM OLD.disabled_at
          OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
          OR NEW.label IS DISTINCT FROM OLD.label
          OR NEW.key_number IS DISTINCT FROM OLD.key_number
          OR (OLD.cooldown_until <= now() AND NEW.cooldown_until > now()))
    EXECUTE FUNCTION keyadmin.record_key_updated();
DROP TRIGGER IF EXISTS key_events_keys_deleted ON public.provider_api_keys;
CREATE TRIGGER key_events_keys_deleted AFTER DELETE ON public.provider_api_keys
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION keyadmin.record_keys_deleted();
DROP TRIGGER IF EXISTS key_events_providers_inserted ON public.providers;
CREATE TRIGGER key_events_providers_inserted AFTER INSERT ON public.providers
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION keyadmin.record_providers_inserted();
-- keyadmin updates last_key_number with every key it adds: only a rename calls the function.
DROP TRIGGER IF EXISTS key_events_provider_renamed ON public.providers;
CREATE TRIGGER key_events_provider_renamed AFTER UPDATE OF provider_name ON public.providers
    FOR EACH ROW WHEN (NEW.provider_name IS DISTINCT FROM OLD.provider_name)
    EXECUTE FUNCTION keyadmin.record_provider_renamed();
DROP TRIGGER IF EXISTS key_events_provider_deleting ON public.providers;
CREATE TRIGGER key_events_provider_deleting BEFORE DELETE ON public.providers
    FOR EACH ROW EXECUTE FUNCTION keyadmin.record_provider_deleting();

-- Privileges: the events and the functions belong to the owner. The service role may read the
-- events (a backend's own dashboard); nobody but the owner may write, change or delete them, and
-- the API roles cannot even see them.
REVOKE ALL ON TABLE keyadmin.key_events FROM PUBLIC;
REVOKE ALL ON FUNCTION keyadmin.event_actor(), keyadmin.key_fingerprint(text),
    keyadmin.key_state(timestamptz, timestamptz, timestamptz), keyadmin.record_keys_inserted(),
    keyadmin.record_key_updated(), keyadmin.record_keys_deleted(), keyadmin.record_providers_inserted(),
    keyadmin.record_provider_renamed(), keyadmin.record_provider_deleting() FROM PUBLIC;

DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON TABLE keyadmin.key_events FROM %I', v_role);
            EXECUTE format('REVOKE ALL ON SCHEMA keyadmin FROM %I', v_role);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT USAGE ON SCHEMA keyadmin TO service_role;
        GRANT SELECT ON TABLE keyadmin.key_events TO service_role;
    END IF;
END
$$;
