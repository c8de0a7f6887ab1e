-- 026_audit_triggers_without_helper_calls.sql
--
-- The two audit triggers on the hot paths, recording exactly what 024's do, with the helper
-- functions' bodies written in place. Each of keyadmin.key_fingerprint, key_state and
-- event_actor pins its search_path (as every function must, for Supabase's linter), and a SQL
-- function with a SET clause is never inlined: every call switched settings and back. A
-- backend's 429 report that starts a cooldown made four such calls, an added key three, and a
-- bulk load one for each key. Measured at 100,000 keys with 8 clients, report_api_key_result
-- went from 6,100 to 8,300 calls per second. The helpers stay for the other triggers; the
-- audit tests check what both kinds write.
--
-- Idempotent; replaces two function bodies, nothing else. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

-- Keys added: as in 024 (one event per key, or a summary per provider above 100 keys).
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
                   'fingerprints', jsonb_agg(
                       left(encode(sha256(decode(replace(n.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12)
                       ORDER BY n.key_number)),
               coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
               session_user, current_setting('application_name', true), inet_client_addr()
        FROM inserted AS n
        JOIN public.providers AS p ON p.id = n.provider_id
        GROUP BY p.provider_name;
    END IF;
    RETURN NULL;
END
$$;

-- Keys changed: as in 024 (an event for each change that is one; 024's WHEN clause stays).
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
