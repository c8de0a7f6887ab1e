-- 027_bounded_events_and_reason_changes.sql
--
-- Events stay small, and a disabled key's new reason is an event.
--
-- 1. An event about many keys (a load or a deletion of more than 100 in one statement, a
--    provider deleted with its keys) carried every key's fingerprint: a provider of 650,000
--    keys wrote one 8 MB event, and `keyadmin --history --limit 3 --json` printed 10 MB. Such an
--    event now lists the fingerprints of its first 100 keys by number, says how many it left
--    out (`fingerprints_omitted`), and keeps the count and the number range. Events about up to
--    100 keys are one event per key, with its fingerprint, as before.
-- 2. A provider's deletion records the range of its key numbers (`first_number`,
--    `last_number`), so that the history of one key number finds the deletion that took it.
-- 3. Disabling a key that is already disabled, with another reason, changes the reason; the
--    change is recorded as `disable_reason_set` (the new reason, and the previous one in detail).
--
-- Idempotent: replaces four trigger functions and one trigger's WHEN clause; rewrites no row.
-- Events written before it stay as they were. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

-- Keys added: as in 026, with the summary's fingerprints bounded.
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
               p.provider_name, n.key_number,
               left(encode(sha256(decode(replace(n.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12),
               CASE WHEN n.disabled_at IS NOT NULL THEN 'disabled'
                    WHEN n.expires_at IS NOT NULL AND n.expires_at <= now() THEN 'expired'
                    WHEN n.cooldown_until > now() THEN 'cooling_down'
                    ELSE 'available' END,
               jsonb_strip_nulls(jsonb_build_object('label', n.label, 'expires_at', n.expires_at)),
               coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
               session_user, current_setting('application_name', true), inet_client_addr()
        FROM inserted AS n
        JOIN public.providers AS p ON p.id = n.provider_id;
    ELSE
        INSERT INTO keyadmin.key_events
            (action, provider_name, detail, actor, db_role, application_name, client_address)
        SELECT 'keys_added', p.provider_name,
               jsonb_build_object(
                   'count', count(*), 'first_number', min(n.key_number), 'last_number', max(n.key_number),
                   'fingerprints', to_jsonb((array_agg(
                       left(encode(sha256(decode(replace(n.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12)
                       ORDER BY n.key_number))[1:100]),
                   'fingerprints_omitted', greatest(count(*) - 100, 0)),
               coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
               session_user, current_setting('application_name', true), inet_client_addr()
        FROM inserted AS n
        JOIN public.providers AS p ON p.id = n.provider_id
        GROUP BY p.provider_name;
    END IF;
    RETURN NULL;
END
$$;

-- Keys deleted: as in 024 (one event per key, or a summary above 100), the summary bounded.
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
               jsonb_build_object(
                   'count', count(*), 'first_number', min(d.key_number), 'last_number', max(d.key_number),
                   'fingerprints', to_jsonb((array_agg(keyadmin.key_fingerprint(d.api_key) ORDER BY d.key_number))[1:100]),
                   'fingerprints_omitted', greatest(count(*) - 100, 0)),
               keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
        FROM deleted AS d
        JOIN public.providers AS p ON p.id = d.provider_id
        GROUP BY p.provider_name;
    END IF;
    RETURN NULL;
END
$$;

-- A provider deleted with its keys: their count, number range and the first 100 fingerprints.
CREATE OR REPLACE FUNCTION keyadmin.record_provider_deleting()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_events (action, provider_name, detail, actor, db_role, application_name, client_address)
    SELECT 'provider_deleted', OLD.provider_name,
           jsonb_strip_nulls(jsonb_build_object(
               'key_count', count(k.id), 'first_number', min(k.key_number), 'last_number', max(k.key_number),
               'fingerprints', coalesce(to_jsonb((array_agg(keyadmin.key_fingerprint(k.api_key) ORDER BY k.key_number)
                                                 FILTER (WHERE k.id IS NOT NULL))[1:100]), '[]'::jsonb),
               'fingerprints_omitted', greatest(count(k.id) - 100, 0))),
           keyadmin.event_actor(), session_user, current_setting('application_name', true), inet_client_addr()
    FROM (SELECT 1) AS one
    LEFT JOIN public.provider_api_keys AS k ON k.provider_id = OLD.id;
    RETURN OLD;
END
$$;

-- Keys changed: as in 026, and a disabled key's new reason.
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
        v_details := v_details || jsonb_build_object('previous_fingerprint',
            left(encode(sha256(decode(replace(OLD.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12));
    END IF;
    IF OLD.disabled_at IS NULL AND NEW.disabled_at IS NOT NULL THEN
        v_actions := v_actions || CASE WHEN NEW.disabled_automatically THEN 'key_disabled_automatically'
                                       ELSE 'key_disabled' END;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || NULL::jsonb;
    END IF;
    -- A disabled key given a new reason (keyadmin --disable-key again, with --reason).
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NOT NULL
       AND NEW.disabled_reason IS DISTINCT FROM OLD.disabled_reason THEN
        v_actions := v_actions || 'disable_reason_set'::text;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || jsonb_build_object('previous_reason', OLD.disabled_reason);
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

    -- The columns every event of this row shares, computed once (plain expressions, evaluated
    -- without a query); then one INSERT per change (its plan is made once per session).
    v_provider := (SELECT p.provider_name FROM public.providers AS p WHERE p.id = NEW.provider_id);
    v_fingerprint := left(encode(sha256(decode(replace(NEW.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12);
    v_before := CASE WHEN OLD.disabled_at IS NOT NULL THEN 'disabled'
                 WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= now() THEN 'expired'
                 WHEN OLD.cooldown_until > now() THEN 'cooling_down'
                 ELSE 'available' END;
    v_after := CASE WHEN NEW.disabled_at IS NOT NULL THEN 'disabled'
                WHEN NEW.expires_at IS NOT NULL AND NEW.expires_at <= now() THEN 'expired'
                WHEN NEW.cooldown_until > now() THEN 'cooling_down'
                ELSE 'available' END;
    FOR i IN 1..coalesce(array_length(v_actions, 1), 0) LOOP
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
          OR (OLD.cooldown_until <= now() AND NEW.cooldown_until > now()))
    EXECUTE FUNCTION keyadmin.record_key_updated();
