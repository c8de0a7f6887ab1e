-- 031_same_actor_and_replacement_time.sql
--
-- Two things --list showed that the history said otherwise:
--
-- 1. A key disabled by a refusal recorded `disabled_by = session_user` (the database role),
--    while its event recorded the transaction's actor (keyadmin.actor: `keyadmin --check
--    --actor alice` says alice). report_api_key_result now takes the actor the same way the
--    events do; a backend, which sets no actor, still records its role. Same signature,
--    privileges and behaviour otherwise.
-- 2. `provider_api_keys.replaced_at`: when the key itself was last replaced (keyadmin
--    --update-key, or any UPDATE of api_key), so that --list says so instead of showing only
--    when the row was created. Set by a BEFORE UPDATE OF api_key trigger, so every writer sets it.
--
-- Adding a nullable column rewrites nothing. Idempotent. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

ALTER TABLE public.provider_api_keys ADD COLUMN IF NOT EXISTS replaced_at timestamptz;

COMMENT ON COLUMN public.provider_api_keys.replaced_at IS
    'When api_key was last replaced (UPDATE of api_key); NULL: the key is the one the row was created with.';

CREATE OR REPLACE FUNCTION keyadmin.note_key_replaced()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    NEW.replaced_at := now();
    RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.note_key_replaced() FROM PUBLIC;

DROP TRIGGER IF EXISTS key_replaced_at ON public.provider_api_keys;
CREATE TRIGGER key_replaced_at BEFORE UPDATE OF api_key ON public.provider_api_keys
    FOR EACH ROW
    WHEN (NEW.api_key IS DISTINCT FROM OLD.api_key)
    EXECUTE FUNCTION keyadmin.note_key_replaced();

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
            -- The actor the transaction names (keyadmin --check --actor sets keyadmin.actor), as
            -- the history's event says; a backend's own role otherwise.
            disabled_by = CASE WHEN v_kind = 'refused' AND k.disabled_at IS NULL
                               THEN coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text)
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
