-- 022_provider_names_start_with_letter_or_digit.sql
--
-- A provider name starts with a letter or a digit. Names such as "-h" or "--version" were
-- accepted by 021 and then read as options by every command line that used them. keyadmin
-- checks the same rule before it sends a name; this constraint holds it for every writer.
--
-- Like 021: idempotent, no BEGIN/COMMIT (keyadmin --migrate runs it in a transaction; use
-- psql -1), and nothing stored is rewritten. The constraint is added NOT VALID, then
-- validated: a database that already holds such a name gets a WARNING naming the
-- constraint, and every new or renamed provider is checked from now on.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'public.providers'::regclass
                     AND conname = 'providers_provider_name_starts_with_letter_or_digit') THEN
        ALTER TABLE public.providers ADD CONSTRAINT providers_provider_name_starts_with_letter_or_digit
            CHECK (provider_name ~ '^[a-z0-9]') NOT VALID;
    END IF;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint
               WHERE conrelid = 'public.providers'::regclass
                 AND conname = 'providers_provider_name_starts_with_letter_or_digit'
                 AND NOT convalidated) THEN
        BEGIN
            ALTER TABLE public.providers VALIDATE CONSTRAINT providers_provider_name_starts_with_letter_or_digit;
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'a provider name stored before this migration starts with neither a letter nor a digit (constraint providers_provider_name_starts_with_letter_or_digit on public.providers); new names are checked; rename the old one and run the migration again';
        END;
    END IF;
END
$$;
