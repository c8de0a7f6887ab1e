-- 025_service_role_exact_privileges.sql
--
-- The service role gets exactly what KeyAdmin's schema needs, and nothing else: everything is
-- revoked from it first, then granted again. Supabase projects created before it stopped
-- granting on new objects by default had left it TRUNCATE, REFERENCES and TRIGGER on the key
-- tables; newer projects did not. After this file both kinds hold the same privileges, which
-- keyadmin --doctor checks.
--
-- Idempotent; changes privileges only; locks wait at most 300 ms. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

DO $$
DECLARE
    v_sequences text := format('%s, %s',
        pg_get_serial_sequence('public.providers', 'id'),
        pg_get_serial_sequence('public.provider_api_keys', 'id'));
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        RETURN;
    END IF;
    REVOKE ALL ON TABLE public.providers, public.provider_api_keys FROM service_role;
    EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM service_role', v_sequences);
    REVOKE ALL ON FUNCTION public.get_api_key(text, integer), public.get_random_api_key(text),
        public.report_api_key_result(text, text, integer, integer) FROM service_role;
    REVOKE ALL ON TABLE keyadmin.key_events FROM service_role;

    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.providers, public.provider_api_keys TO service_role;
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO service_role', v_sequences);
    GRANT EXECUTE ON FUNCTION public.get_api_key(text, integer), public.get_random_api_key(text),
        public.report_api_key_result(text, text, integer, integer) TO service_role;
    GRANT USAGE ON SCHEMA keyadmin TO service_role;
    GRANT SELECT ON TABLE keyadmin.key_events TO service_role;
END
$$;
