-- KeyAdmin's security promises as pgTAP tests, for a Supabase project (supabase test db) or any
-- database with Supabase's roles (pg_prove -d DATABASE supabase/tests/keyadmin_security.test.sql).
-- The same promises keyadmin --doctor checks: Row Level Security, no privilege for PUBLIC, anon
-- or authenticated on the keys, the events, the sequences or the functions, the functions
-- SECURITY INVOKER with a pinned search_path, no SECURITY DEFINER function reaching the keys
-- for an API role, and an append-only audit trail. Everything runs in a transaction that is
-- rolled back.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;

SELECT plan(75);

SELECT has_table('public', 'providers', 'the providers table exists');
SELECT has_table('public', 'provider_api_keys', 'the key table exists');

SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'public.providers'::regclass),
          'Row Level Security is enabled on public.providers');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'public.provider_api_keys'::regclass),
          'Row Level Security is enabled on public.provider_api_keys');
SELECT is_empty(
    $$ SELECT policyname FROM pg_policies
       WHERE schemaname = 'public' AND tablename IN ('providers', 'provider_api_keys')
         AND roles <> '{service_role}'::name[] $$,
    'no policy applies to any role but service_role');

-- Privileges as PostgreSQL resolves them (membership and inheritance included).
SELECT ok(NOT has_table_privilege(r, t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
          format('%s has no privilege on %s', r, t))
FROM unnest(ARRAY['public', 'anon', 'authenticated']) AS r,
     unnest(ARRAY['public.providers', 'public.provider_api_keys', 'keyadmin.key_events']) AS t;

SELECT ok(NOT has_function_privilege(r, f, 'EXECUTE'), format('%s cannot execute %s', r, f))
FROM unnest(ARRAY['public', 'anon', 'authenticated']) AS r,
     unnest(ARRAY['public.get_api_key(text, integer)', 'public.get_random_api_key(text)',
                  'public.get_sticky_api_key(text, text)',
                  'public.report_api_key_result(text, text, integer, integer, integer, text)']) AS f;

SELECT ok(NOT has_sequence_privilege(r, pg_get_serial_sequence(t, 'id'), 'USAGE, SELECT, UPDATE'),
          format('%s cannot use the sequence of %s', r, t))
FROM unnest(ARRAY['public', 'anon', 'authenticated']) AS r,
     unnest(ARRAY['public.providers', 'public.provider_api_keys']) AS t;

SELECT isnt_definer('public', 'get_api_key', ARRAY['text', 'integer'], 'get_api_key is SECURITY INVOKER');
SELECT isnt_definer('public', 'get_random_api_key', ARRAY['text'], 'get_random_api_key is SECURITY INVOKER');
SELECT isnt_definer('public', 'get_sticky_api_key', ARRAY['text', 'text'], 'get_sticky_api_key is SECURITY INVOKER');
SELECT isnt_definer('public', 'report_api_key_result', ARRAY['text', 'text', 'integer', 'integer', 'integer', 'text'],
                    'report_api_key_result is SECURITY INVOKER');

SELECT ok(EXISTS (SELECT 1 FROM pg_proc AS p, unnest(p.proconfig) AS c
                  WHERE p.oid = to_regprocedure(f) AND c LIKE 'search_path=%'),
          format('%s has a pinned search_path', f))
FROM unnest(ARRAY['public.get_api_key(text, integer)', 'public.get_random_api_key(text)',
                  'public.get_sticky_api_key(text, text)',
                  'public.report_api_key_result(text, text, integer, integer, integer, text)']) AS f;

SELECT ok(has_table_privilege('service_role', 'public.provider_api_keys', 'SELECT, INSERT, UPDATE, DELETE'),
          'the service role can manage keys');
SELECT ok(has_function_privilege('service_role', 'public.get_random_api_key(text)', 'EXECUTE'),
          'the service role can draw keys');
SELECT ok(has_function_privilege('service_role', 'public.get_sticky_api_key(text, text)', 'EXECUTE'),
          'the service role can draw sticky keys');

SELECT is_empty(
    $$ SELECT p.oid::regprocedure::text FROM pg_proc AS p
       WHERE p.prosecdef
         AND (p.prosrc ILIKE '%provider_api_keys%' OR coalesce(pg_get_function_sqlbody(p.oid), '') ILIKE '%provider_api_keys%')
         AND (has_function_privilege('public', p.oid, 'EXECUTE') OR has_function_privilege('anon', p.oid, 'EXECUTE')
              OR has_function_privilege('authenticated', p.oid, 'EXECUTE')) $$,
    'no SECURITY DEFINER function that reads the keys is executable by an API role');

SELECT ok(NOT has_table_privilege('service_role', 'keyadmin.key_events', 'INSERT, UPDATE, DELETE, TRUNCATE'),
          'the service role cannot write, change or delete audit events');

-- Only the owner records that a check ran (keyadmin --check): an API role cannot forge one.
SELECT ok(NOT has_function_privilege(r, 'keyadmin.record_check(text, jsonb)', 'EXECUTE'),
          format('%s cannot record a check', r))
FROM unnest(ARRAY['public', 'anon', 'authenticated', 'service_role']) AS r;

-- Usage (migration 033): no API role reads or writes it; the service role only counts through
-- the report, and calls nothing new but what the report calls.
SELECT ok(NOT has_table_privilege(r, t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
          format('%s has no privilege on %s', r, t))
FROM unnest(ARRAY['public', 'anon', 'authenticated', 'service_role']) AS r,
     unnest(ARRAY['keyadmin.key_usage', 'keyadmin.account_usage', 'keyadmin.usage_pruned',
                  'keyadmin.usage_days']) AS t;

SELECT ok(NOT has_function_privilege(r, f, 'EXECUTE'), format('%s cannot execute %s', r, f))
FROM unnest(ARRAY['public', 'anon', 'authenticated']) AS r,
     unnest(ARRAY['keyadmin.count_report(integer, integer, date, text, integer, text, boolean)',
                  'keyadmin.rest_account(integer, integer, text, timestamptz, boolean, jsonb)',
                  'keyadmin.prune_usage(timestamptz)']) AS f;

SELECT is(count(*)::integer, 1, 'report_api_key_result has one form: a call with four arguments is not ambiguous')
FROM pg_proc WHERE proname = 'report_api_key_result' AND pronamespace = 'public'::regnamespace;

SELECT * FROM finish();
ROLLBACK;
