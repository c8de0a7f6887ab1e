-- 029_provider_endpoints.sql
--
-- Where each provider's API is, for keyadmin --check, which asks the provider whether each key
-- still works and records the answers through report_api_key_result.
--
-- providers.endpoint_url: the API's base URL (keyadmin sends keys only over https, or http to a
-- loopback host, and checks a stored URL again before it does; the constraint below checks the
-- form), and
-- providers.api_style: how a key is sent, 'openai' (Authorization: Bearer), 'anthropic'
-- (x-api-key) or 'google' (x-goog-api-key). Both NULL: keyadmin uses its built-in endpoint for a
-- well-known name (openai, anthropic, gemini, ...). A change is an event (endpoint_set).
-- A key enabled again takes its event's reason from the transaction's keyadmin.reason setting
-- (keyadmin --check --revive sets it), and keyadmin.record_check() records that a check ran,
-- by whom and what it found, even when it changed nothing.
--
-- Adding nullable columns rewrites nothing; the constraint is checked without blocking writes
-- (NOT VALID, then VALIDATE). Idempotent. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

ALTER TABLE public.providers
    ADD COLUMN IF NOT EXISTS endpoint_url text,
    ADD COLUMN IF NOT EXISTS api_style text;

COMMENT ON COLUMN public.providers.endpoint_url IS
    'Base URL of the provider''s API, for keyadmin --check; NULL: keyadmin''s built-in one for a well-known name.';
COMMENT ON COLUMN public.providers.api_style IS
    'How the API takes a key: openai (Authorization: Bearer), anthropic (x-api-key) or google (x-goog-api-key).';

-- The URL: http(s), no spaces or control characters, no user:password@ part (a secret would
-- sit in a column anyone who lists providers reads), at most 2,000 characters; both or neither.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.providers'::regclass
                   AND conname = 'providers_endpoint_format') THEN
        ALTER TABLE public.providers ADD CONSTRAINT providers_endpoint_format
            CHECK ((endpoint_url IS NULL) = (api_style IS NULL)
                   AND api_style IN ('openai', 'anthropic', 'google')
                   AND char_length(endpoint_url) <= 2000
                   AND endpoint_url ~ '^https?://[^/@[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$') NOT VALID;
    END IF;
END
$$;

ALTER TABLE public.providers VALIDATE CONSTRAINT providers_endpoint_format;

CREATE OR REPLACE FUNCTION keyadmin.record_endpoint_set()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_events (action, provider_name, detail, actor, db_role, application_name, client_address)
    VALUES ('endpoint_set', NEW.provider_name,
            jsonb_build_object('endpoint_url', NEW.endpoint_url, 'api_style', NEW.api_style,
                               'previous_endpoint_url', OLD.endpoint_url, 'previous_api_style', OLD.api_style),
            coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
            session_user, current_setting('application_name', true), inet_client_addr());
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS key_events_endpoint_set ON public.providers;
CREATE TRIGGER key_events_endpoint_set AFTER UPDATE OF endpoint_url, api_style ON public.providers
    FOR EACH ROW
    WHEN (NEW.endpoint_url IS DISTINCT FROM OLD.endpoint_url OR NEW.api_style IS DISTINCT FROM OLD.api_style)
    EXECUTE FUNCTION keyadmin.record_endpoint_set();

-- A check that ran: one event per run, with its counts (never a key). Only the owner and roles
-- it grants EXECUTE to may record one; backends have no use for it.
CREATE OR REPLACE FUNCTION keyadmin.record_check(p_provider_name text, p_detail jsonb)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = ''
AS $$
    INSERT INTO keyadmin.key_events (action, provider_name, detail, actor, db_role, application_name, client_address)
    SELECT 'provider_checked', p.provider_name, p_detail,
           coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
           session_user, current_setting('application_name', true), inet_client_addr()
    FROM public.providers AS p
    WHERE p.provider_name = lower(p_provider_name);
$$;

-- A key enabled again says why, when the enabling transaction says (keyadmin.reason).
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
    IF OLD.cooldown_until <= now() AND NEW.cooldown_until > now() AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'cooldown_started'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('until', NEW.cooldown_until, 'http_status', NEW.last_status);
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


REVOKE ALL ON FUNCTION keyadmin.record_endpoint_set(), keyadmin.record_check(text, jsonb) FROM PUBLIC;
