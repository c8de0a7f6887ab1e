-- 030_picks_without_cliffs.sql
--
-- The weighted and sticky picks cost the same for any weights, any states, next to any pool.
--
-- 028's probes drew a key number uniformly and accepted it with weight / (the tier's largest
-- weight): one key at weight 1000 among keys at 1 accepted one probe in a thousand, and the
-- fallback then read every enabled key of the tier. Here keys are grouped by weight class:
--
--   class c holds weights 2^c .. 2^(c+1)-1 (c = 0..9: 1, 2-3, 4-7, ..., 512-1000), and its
--   bound is 2^(c+1)-1 (1000 for class 9): less than twice any weight in the class.
--
-- keyadmin.key_slots numbers the keys of each (provider, tier, class) densely from 1 (every
-- key, whatever its state: a cooldown moves nothing). The provider row keeps, for each class,
-- its count and where it starts in the tier's "mass" (the sum of count x bound over the classes
-- before it), each tier's mass, and each tier's largest bound (max_weights). A probe is one
-- uniform number x in [0, mass): the class is the one whose range holds x, the slot is
-- (x - start) / bound, and the remainder, uniform in [0, bound), accepts the key when it is below
-- its weight. An accepted key is drawn with probability exactly weight / (sum of the available
-- weights), and a probe that lands on an available key accepts it at least half the time,
-- whatever the skew. Where a tier's keys fill at least half of (number range x largest bound)
-- (equal weights, the common pool), the picks keep 028's direct probe of the key number: one
-- index lookup instead of two.
--
-- When four probes meet no available key, the picks read the tier's available keys through
-- provider_api_keys_enabled_by_tier (cooldown_until <= now() is a range of it), at most
-- max(256, sqrt(8 x highest number)) of them: none means the tier does not serve, a few are
-- picked from exactly; more means probing pays, and only after 148 more misses are they all read.
--
-- Membership changes (a key added, deleted, or given another tier, class or provider) lock the
-- provider's row (FOR NO KEY UPDATE) and move at most one slot per key leaving a class (the
-- class's last key takes its slot), set-based, once per statement, for every writer (keyadmin,
-- psql, the SQL editor, COPY). The UPDATE row trigger fires only when tier, weight or
-- provider_id is set to another class, so a report that starts a cooldown fires nothing.
-- keyadmin.rebuild_key_slots() builds it all anew (after a restore that skipped triggers).
--
-- No statement on the hot path is planned per call: the picks run with plan_cache_mode =
-- force_generic_plan (their statements' parameters made the planner choose custom plans, and
-- plan again at every call, when another provider's keys were cooling: 950 us a call instead of
-- 80).
--
-- Signatures, semantics and privileges of the public functions are unchanged; they still call
-- no helper (the service role reads keyadmin.key_slots, nothing else new). Idempotent. No
-- BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

-- Its constraints (and so its indexes) are added after the first fill, at the end of this file:
-- a sorted index build after one INSERT instead of index entries made row by row.
CREATE TABLE IF NOT EXISTS keyadmin.key_slots (
    provider_id integer NOT NULL,
    tier smallint NOT NULL,
    weight_class smallint NOT NULL,
    slot integer NOT NULL,
    key_id integer NOT NULL
);

COMMENT ON TABLE keyadmin.key_slots IS
    'The keys of each provider, tier and weight class numbered densely from 1, for the weighted picks; kept by triggers on provider_api_keys.';

-- Not an API: no role but the owner writes it; the service role reads it (the picks run as the
-- caller).
REVOKE ALL ON TABLE keyadmin.key_slots FROM PUBLIC;
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON TABLE keyadmin.key_slots FROM %I', v_role);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        REVOKE ALL ON TABLE keyadmin.key_slots FROM service_role;
        GRANT SELECT ON TABLE keyadmin.key_slots TO service_role;
    END IF;
END
$$;

-- The weight class of a weight: 0 for 1, 1 for 2-3, ..., 9 for 512-1000. Its bound is
-- 2^(class+1) - 1 (1000 for class 9): below twice any weight of the class, so a probe that lands
-- on an available key accepts it at least half the time. Fixed bounds need no upkeep. Written
-- out where it is used (the picks call no helper); these functions are for the triggers and for
-- people. (No SET clause: a SQL function with one is never inlined; they name only pg_catalog.)
CREATE OR REPLACE FUNCTION keyadmin.weight_class(p_weight integer)
RETURNS smallint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$ SELECT (pg_catalog.width_bucket(p_weight, '{1,2,4,8,16,32,64,128,256,512}'::integer[]) - 1)::smallint $$;

CREATE OR REPLACE FUNCTION keyadmin.weight_class_bound(p_class integer)
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$ SELECT least(1000, (2 << p_class) - 1) $$;

-- A provider's layout from its slots as they are: each class's count (its highest slot, one
-- index probe, as the numbering is dense), start and the tiers' masses and largest bounds.
-- Called once per statement that changed the provider's slots, by the triggers below.
CREATE OR REPLACE FUNCTION keyadmin.store_slot_layout(p_provider_id integer)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_counts integer[] := array_fill(0, ARRAY[90]);
    v_starts bigint[] := array_fill(0::bigint, ARRAY[90]);
    v_masses bigint[] := array_fill(0::bigint, ARRAY[9]);
    v_largest integer[] := array_fill(1, ARRAY[9]);
    v_i integer;
BEGIN
    FOR v_tier IN 1..9 LOOP
        FOR v_class IN 0..9 LOOP
            v_i := v_tier * 10 - 9 + v_class;
            v_counts[v_i] := coalesce((SELECT max(s.slot) FROM keyadmin.key_slots AS s
                                      WHERE s.provider_id = p_provider_id AND s.tier = v_tier
                                        AND s.weight_class = v_class), 0);
            v_starts[v_i] := v_masses[v_tier];
            v_masses[v_tier] := v_masses[v_tier] + v_counts[v_i]::bigint * keyadmin.weight_class_bound(v_class);
            IF v_counts[v_i] > 0 THEN
                v_largest[v_tier] := keyadmin.weight_class_bound(v_class);
            END IF;
        END LOOP;
    END LOOP;
    UPDATE public.providers AS p
    SET slot_counts = v_counts, slot_starts = v_starts, tier_masses = v_masses, max_weights = v_largest
    WHERE p.id = p_provider_id
      AND (p.slot_counts, p.slot_starts, p.tier_masses, p.max_weights)
          IS DISTINCT FROM (v_counts, v_starts, v_masses, v_largest);
END
$$;

-- Slot upkeep is set-based, once per statement: keyadmin.remove_slots frees the slots of some
-- keys and moves each class's last keys into the freed slots below its new count;
-- keyadmin.append_slots numbers keys after their class's last slot. Each locks the providers it
-- changes (FOR NO KEY UPDATE, in id order): membership changes of one provider are serialized,
-- picks and reports are not blocked.
CREATE OR REPLACE FUNCTION keyadmin.remove_slots(p_key_ids integer[])
RETURNS integer[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_providers integer[];
    v_group record;
    v_move record;
    v_count integer;
BEGIN
    v_providers := ARRAY(SELECT DISTINCT s.provider_id FROM keyadmin.key_slots AS s
                         WHERE s.key_id = ANY (p_key_ids) ORDER BY 1);
    PERFORM 1 FROM public.providers AS p WHERE p.id = ANY (v_providers) ORDER BY p.id FOR NO KEY UPDATE;
    FOR v_group IN
        SELECT s.provider_id, s.tier, s.weight_class, array_agg(s.slot) AS slots,
               (SELECT max(x.slot) FROM keyadmin.key_slots AS x
                WHERE x.provider_id = s.provider_id AND x.tier = s.tier AND x.weight_class = s.weight_class) AS highest
        FROM keyadmin.key_slots AS s WHERE s.key_id = ANY (p_key_ids)
        GROUP BY 1, 2, 3
    LOOP
        v_count := v_group.highest - cardinality(v_group.slots);
        DELETE FROM keyadmin.key_slots AS s
        WHERE s.provider_id = v_group.provider_id AND s.tier = v_group.tier
          AND s.weight_class = v_group.weight_class AND s.slot = ANY (v_group.slots);
        -- One primary-key update per moved slot: a join UPDATE was planned from the statistics
        -- of a table that had just grown, and read the whole class for every row.
        FOR v_move IN
            SELECT movers.slot, free.slot AS free
            FROM (SELECT x.slot, row_number() OVER (ORDER BY x.slot) AS rank
                  FROM keyadmin.key_slots AS x
                  WHERE x.provider_id = v_group.provider_id AND x.tier = v_group.tier
                    AND x.weight_class = v_group.weight_class AND x.slot > v_count) AS movers
            JOIN (SELECT f.slot, row_number() OVER (ORDER BY f.slot) AS rank
                  FROM unnest(v_group.slots) AS f(slot) WHERE f.slot <= v_count) AS free
              ON free.rank = movers.rank
        LOOP
            UPDATE keyadmin.key_slots AS s SET slot = v_move.free
            WHERE s.provider_id = v_group.provider_id AND s.tier = v_group.tier
              AND s.weight_class = v_group.weight_class AND s.slot = v_move.slot;
        END LOOP;
    END LOOP;
    RETURN v_providers;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.append_slots(p_key_ids integer[])
RETURNS integer[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_providers integer[];
    v_last integer[];
BEGIN
    v_providers := ARRAY(SELECT DISTINCT k.provider_id FROM public.provider_api_keys AS k
                         WHERE k.id = ANY (p_key_ids) ORDER BY 1);
    PERFORM 1 FROM public.providers AS p WHERE p.id = ANY (v_providers) ORDER BY p.id FOR NO KEY UPDATE;
    FOR v_index IN 1..coalesce(cardinality(v_providers), 0) LOOP
        -- Each class's last slot, read before the INSERT: probed inside it, the index would
        -- show every entry the INSERT had made so far (invisible to it, but walked over).
        v_last := ARRAY(SELECT coalesce((SELECT max(s.slot) FROM keyadmin.key_slots AS s
                                         WHERE s.provider_id = v_providers[v_index]
                                           AND s.tier = (i - 1) / 10 + 1 AND s.weight_class = (i - 1) % 10), 0)
                        FROM generate_series(1, 90) AS i ORDER BY i);
        INSERT INTO keyadmin.key_slots (provider_id, tier, weight_class, slot, key_id)
        SELECT k.provider_id, k.tier, c.class,
               v_last[k.tier * 10 - 9 + c.class] + row_number() OVER (PARTITION BY k.tier, c.class ORDER BY k.id),
               k.id
        FROM public.provider_api_keys AS k
        CROSS JOIN LATERAL (SELECT keyadmin.weight_class(k.weight) AS class) AS c
        WHERE k.id = ANY (p_key_ids) AND k.provider_id = v_providers[v_index];
    END LOOP;
    RETURN v_providers;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.slots_on_insert()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer;
BEGIN
    FOREACH v_provider_id IN ARRAY keyadmin.append_slots(ARRAY(SELECT n.id FROM inserted AS n)) LOOP
        PERFORM keyadmin.store_slot_layout(v_provider_id);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.slots_on_delete()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer;
BEGIN
    FOREACH v_provider_id IN ARRAY keyadmin.remove_slots(ARRAY(SELECT d.id FROM deleted AS d)) LOOP
        PERFORM keyadmin.store_slot_layout(v_provider_id);  -- a provider being deleted has no row to write
    END LOOP;
    RETURN NULL;
END
$$;

-- A key given another tier, weight or provider. UPDATE triggers with transition tables cannot
-- name columns, and would fire on every cooldown; so a row trigger, on those three columns only,
-- queues the key (a row of its own: counting in one shared row would leave one dead version of
-- it per key of a multi-row UPDATE), and the statement trigger moves the queued keys whose
-- class changed, set-based. The queue is empty between statements: only the transaction that
-- filled it ever sees its rows.
CREATE TABLE IF NOT EXISTS keyadmin.key_slot_changes (key_id integer NOT NULL);
COMMENT ON TABLE keyadmin.key_slot_changes IS
    'Keys whose tier, weight or provider an UPDATE statement set, until its statement trigger moves their slots; always empty between statements.';
REVOKE ALL ON TABLE keyadmin.key_slot_changes FROM PUBLIC;

CREATE OR REPLACE FUNCTION keyadmin.slots_on_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO keyadmin.key_slot_changes (key_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.slots_after_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_moved integer[];
    v_provider_id integer;
BEGIN
    WITH queued AS (DELETE FROM keyadmin.key_slot_changes RETURNING key_id)
    SELECT ARRAY(
        SELECT DISTINCT k.id
        FROM queued AS q
        JOIN public.provider_api_keys AS k ON k.id = q.key_id
        LEFT JOIN keyadmin.key_slots AS s ON s.key_id = k.id
        WHERE s.key_id IS NULL OR s.provider_id <> k.provider_id OR s.tier <> k.tier
           OR s.weight_class <> keyadmin.weight_class(k.weight))
    INTO v_moved;
    IF cardinality(v_moved) > 0 THEN
        FOR v_provider_id IN
            SELECT DISTINCT p FROM unnest(keyadmin.remove_slots(v_moved) || keyadmin.append_slots(v_moved)) AS p ORDER BY 1
        LOOP
            PERFORM keyadmin.store_slot_layout(v_provider_id);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.slots_on_truncate()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    TRUNCATE keyadmin.key_slots;
    UPDATE public.providers AS p
    SET slot_counts = array_fill(0, ARRAY[90]), slot_starts = array_fill(0::bigint, ARRAY[90]),
        tier_masses = array_fill(0::bigint, ARRAY[9]), max_weights = array_fill(1, ARRAY[9])
    WHERE p.tier_masses <> array_fill(0::bigint, ARRAY[9]);
    RETURN NULL;
END
$$;

-- Every slot and every provider's layout from the keys as they are: for a database whose
-- triggers were bypassed (a data-only restore with triggers disabled, session_replication_role
-- = replica). Takes the key table's SHARE lock so that no writer runs meanwhile.
CREATE OR REPLACE FUNCTION keyadmin.rebuild_key_slots()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer;
BEGIN
    LOCK TABLE public.provider_api_keys IN SHARE MODE;
    PERFORM 1 FROM public.providers AS p ORDER BY p.id FOR NO KEY UPDATE;
    DELETE FROM keyadmin.key_slots;
    INSERT INTO keyadmin.key_slots (provider_id, tier, weight_class, slot, key_id)
    SELECT k.provider_id, k.tier, keyadmin.weight_class(k.weight),
           row_number() OVER (PARTITION BY k.provider_id, k.tier, keyadmin.weight_class(k.weight) ORDER BY k.id),
           k.id
    FROM public.provider_api_keys AS k;
    FOR v_provider_id IN SELECT p.id FROM public.providers AS p ORDER BY p.id LOOP
        PERFORM keyadmin.store_slot_layout(v_provider_id);
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.weight_class(integer), keyadmin.weight_class_bound(integer),
    keyadmin.store_slot_layout(integer), keyadmin.remove_slots(integer[]), keyadmin.append_slots(integer[]),
    keyadmin.slots_on_insert(), keyadmin.slots_on_delete(),
    keyadmin.slots_on_update(), keyadmin.slots_after_update(), keyadmin.slots_on_truncate(),
    keyadmin.rebuild_key_slots() FROM PUBLIC;

-- 028's bound triggers: the layout above keeps max_weights now.
DROP TRIGGER IF EXISTS max_weight_on_insert ON public.provider_api_keys;
DROP TRIGGER IF EXISTS max_weight_on_update ON public.provider_api_keys;
DROP FUNCTION IF EXISTS keyadmin.raise_max_weight();

DROP TRIGGER IF EXISTS key_slots_on_insert ON public.provider_api_keys;
CREATE TRIGGER key_slots_on_insert AFTER INSERT ON public.provider_api_keys
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION keyadmin.slots_on_insert();
DROP TRIGGER IF EXISTS key_slots_on_delete ON public.provider_api_keys;
CREATE TRIGGER key_slots_on_delete AFTER DELETE ON public.provider_api_keys
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION keyadmin.slots_on_delete();
DROP TRIGGER IF EXISTS key_slots_on_update ON public.provider_api_keys;
-- The WHEN clause runs as the writer (the service role, say), who may not execute keyadmin's
-- functions: keyadmin.weight_class written out, with pg_catalog's width_bucket.
CREATE TRIGGER key_slots_on_update AFTER UPDATE OF tier, weight, provider_id ON public.provider_api_keys
    FOR EACH ROW WHEN (NEW.tier <> OLD.tier OR NEW.provider_id <> OLD.provider_id
                       OR pg_catalog.width_bucket(NEW.weight, '{1,2,4,8,16,32,64,128,256,512}'::integer[])
                          <> pg_catalog.width_bucket(OLD.weight, '{1,2,4,8,16,32,64,128,256,512}'::integer[]))
    EXECUTE FUNCTION keyadmin.slots_on_update();
DROP TRIGGER IF EXISTS key_slots_after_update ON public.provider_api_keys;
CREATE TRIGGER key_slots_after_update AFTER UPDATE OF tier, weight, provider_id ON public.provider_api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keyadmin.slots_after_update();
DROP TRIGGER IF EXISTS key_slots_on_truncate ON public.provider_api_keys;
CREATE TRIGGER key_slots_on_truncate AFTER TRUNCATE ON public.provider_api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keyadmin.slots_on_truncate();

-- The first time: slots for the keys there are, then the indexes, then each provider's layout.
-- The triggers above already hold the key table against writers (SHARE ROW EXCLUSIVE until
-- commit), so no key comes or goes meanwhile. Later runs find the constraints, and the triggers
-- have kept the slots.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'keyadmin.key_slots'::regclass
                   AND conname = 'key_slots_pkey') THEN
        DELETE FROM keyadmin.key_slots;
        INSERT INTO keyadmin.key_slots (provider_id, tier, weight_class, slot, key_id)
        SELECT k.provider_id, k.tier, keyadmin.weight_class(k.weight),
               row_number() OVER (PARTITION BY k.provider_id, k.tier, keyadmin.weight_class(k.weight) ORDER BY k.id),
               k.id
        FROM public.provider_api_keys AS k;
        -- key_id rides in the primary key's index: a probe is an index-only scan (the table
        -- changes only when keys are added, deleted or reclassed, so its pages stay all-visible).
        ALTER TABLE keyadmin.key_slots
            ADD CONSTRAINT key_slots_pkey PRIMARY KEY (provider_id, tier, weight_class, slot) INCLUDE (key_id),
            ADD CONSTRAINT key_slots_key_id_key UNIQUE (key_id);
    END IF;
END
$$;

-- The provider's layout columns come last: ALTER TABLE takes the providers table's ACCESS
-- EXCLUSIVE lock until commit, which would stop every backend's pick; here it is held for the
-- layouts and the functions only, not for the slots above (3 s on 1,000,000 keys, measured).
ALTER TABLE public.providers
    ADD COLUMN IF NOT EXISTS slot_counts integer[] NOT NULL DEFAULT array_fill(0, ARRAY[90]),
    ADD COLUMN IF NOT EXISTS slot_starts bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[90]),
    ADD COLUMN IF NOT EXISTS tier_masses bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[9]);

COMMENT ON COLUMN public.providers.slot_counts IS
    'Keys per tier and weight class (element (tier - 1) * 10 + class + 1; class c holds weights 2^c to 2^(c+1)-1), kept by triggers.';
COMMENT ON COLUMN public.providers.slot_starts IS
    'For each tier and weight class, the sum of count x bound over the tier''s lighter classes: where the class starts in a probe''s range.';
COMMENT ON COLUMN public.providers.tier_masses IS
    'For each tier, the sum of count x bound over its classes: the range a probe draws from.';
COMMENT ON COLUMN public.providers.max_weights IS
    'For each tier, the bound of its heaviest weight class (1 when it has no key), kept by triggers: the bound of the direct probe.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.providers AS p WHERE p.tier_masses = array_fill(0::bigint, ARRAY[9]))
       AND EXISTS (SELECT 1 FROM keyadmin.key_slots) THEN
        PERFORM keyadmin.store_slot_layout(p.id) FROM public.providers AS p;
    END IF;
END
$$;

-- The weighted pick. The provider's row first; then, from the lowest tier with keys:
--   1. four probes, counting those that land on an available key;
--   2. none did: the tier's available keys, read through the tier index (cooldown_until <=
--      now() is a range of it), at most v_limit of them: none means the tier does not serve
--      (the next one is tried); a few means an exact pick by weight among them;
--   3. 16 probes, then 128; 4. every available key of the tier, exactly by weight.
-- Each probe statement holds only the kind of probe that applies (one holding both cost 55 us a
-- call more: the executor opens every relation of a plan, used or not). The draws are made into
-- an array first: random() inside the statement would be drawn again for every row a scan visits.
CREATE OR REPLACE FUNCTION public.get_random_api_key(p_provider_name text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_provider_id integer;
    v_highest integer;
    v_masses bigint[];
    v_starts bigint[];
    v_largest integer[];
    v_tier_starts bigint[];
    v_key text;
    v_hits integer;
    v_available integer;
    v_draws double precision[];
    v_draw double precision;
    v_limit integer;
BEGIN
    -- The provider's row, and four direct probes of tier 1 where they apply (the common pool:
    -- one tier, equal weights): most calls end with this one statement. Where they do not apply,
    -- the join condition gives no probe rows, and the rounds below begin.
    v_draws := ARRAY[random(), random(), random(), random()];
    SELECT p.id, p.last_key_number, p.tier_masses, p.slot_starts, p.max_weights, probe.api_key
    INTO v_provider_id, v_highest, v_masses, v_starts, v_largest, v_key
    FROM public.providers AS p
    LEFT JOIN LATERAL (
        SELECT k.api_key
        FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
        JOIN public.provider_api_keys AS k
          ON k.provider_id = p.id AND k.key_number = 1 + floor(d.draw * p.last_key_number)::integer
         AND p.last_key_number::bigint * p.max_weights[1] <= 2 * p.tier_masses[1]
        WHERE k.tier = 1 AND k.disabled_at IS NULL AND k.cooldown_until <= now()
          AND (k.expires_at IS NULL OR k.expires_at > now())
          AND (d.draw * p.last_key_number - floor(d.draw * p.last_key_number)) * p.max_weights[1] < k.weight
        ORDER BY d.position
        LIMIT 1
    ) AS probe ON true
    WHERE p.provider_name = lower(p_provider_name);
    IF v_key IS NOT NULL THEN
        RETURN v_key;
    END IF;
    IF coalesce(v_highest, 0) = 0 THEN
        RETURN NULL;  -- no such provider, or it never had a key
    END IF;

    FOR v_tier IN 1..9 LOOP
        CONTINUE WHEN v_masses[v_tier] = 0;
        v_available := NULL;
        FOR v_round IN 1..4 LOOP
            IF v_round = 2 THEN
                CONTINUE WHEN v_hits > 0;
                v_limit := greatest(256, sqrt(8.0 * v_highest)::integer);
                v_draw := random();
                SELECT c.available, CASE WHEN c.available <= v_limit THEN c.api_key END
                INTO v_available, v_key
                FROM (
                    SELECT a.api_key, a.weight, count(*) OVER () AS available,
                           sum(a.weight) OVER (ORDER BY a.key_number) AS running, sum(a.weight) OVER () AS total
                    FROM (
                        SELECT k.api_key, k.weight, k.key_number
                        FROM public.provider_api_keys AS k
                        WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                          AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                        LIMIT v_limit + 1
                    ) AS a
                ) AS c
                WHERE c.available > v_limit
                   OR (v_draw * c.total >= c.running - c.weight AND v_draw * c.total < c.running)
                LIMIT 1;
                IF v_key IS NOT NULL THEN
                    RETURN v_key;
                END IF;
                v_available := coalesce(v_available, 0);
                EXIT WHEN v_available = 0;  -- nothing available in this tier: the next one
                CONTINUE;
            END IF;
            v_draws := CASE v_round
                           WHEN 1 THEN ARRAY[random(), random(), random(), random()]
                           WHEN 3 THEN ARRAY(SELECT random() FROM generate_series(1, 16))
                           ELSE ARRAY(SELECT random() FROM generate_series(1, 128))
                       END;
            IF v_highest::bigint * v_largest[v_tier] <= 2 * v_masses[v_tier] THEN
                -- Direct: key number 1 + floor(u x highest); the fraction left of u x highest,
                -- times the tier's largest bound, accepts when below the weight.
                SELECT (array_agg(k.api_key ORDER BY d.position)
                            FILTER (WHERE (d.draw * v_highest - floor(d.draw * v_highest)) * v_largest[v_tier] < k.weight))[1],
                       count(*)
                INTO v_key, v_hits
                FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
                JOIN public.provider_api_keys AS k
                  ON k.provider_id = v_provider_id AND k.key_number = 1 + floor(d.draw * v_highest)::integer
                WHERE k.tier = v_tier AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now());
            ELSE
                -- Through the slots: x in [0, mass) names a class (its range of count x bound),
                -- a slot (x - start) / bound, and a remainder in [0, bound) below the weight.
                v_tier_starts := v_starts[v_tier * 10 - 9:v_tier * 10];
                SELECT (array_agg(k.api_key ORDER BY x.position) FILTER (WHERE x.remainder < k.weight))[1], count(*)
                INTO v_key, v_hits
                FROM (
                    SELECT d.position, c.class,
                           (1 + (c.point - v_starts[v_tier * 10 - 9 + c.class]) / least(1000, (2 << c.class) - 1))::integer AS slot,
                           (c.point - v_starts[v_tier * 10 - 9 + c.class]) % least(1000, (2 << c.class) - 1) AS remainder
                    FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
                    CROSS JOIN LATERAL (
                        -- OFFSET 0: computed once per probe, not once per use below.
                        SELECT q.point, width_bucket(q.point, v_tier_starts) - 1 AS class
                        FROM (SELECT floor(d.draw * v_masses[v_tier])::bigint AS point) AS q
                        OFFSET 0
                    ) AS c
                ) AS x
                JOIN keyadmin.key_slots AS s
                  ON s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = x.class AND s.slot = x.slot
                JOIN public.provider_api_keys AS k ON k.id = s.key_id
                WHERE k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now());
            END IF;
            IF v_key IS NOT NULL THEN
                RETURN v_key;
            END IF;
        END LOOP;
        CONTINUE WHEN v_available = 0;

        -- Many keys available, yet 148 probes missed (light keys among heavy unavailable
        -- ones): every available key of the tier, exactly by weight.
        v_draw := random();
        SELECT c.api_key INTO v_key
        FROM (
            SELECT k.api_key, k.weight,
                   sum(k.weight) OVER (ORDER BY k.key_number) AS running, sum(k.weight) OVER () AS total
            FROM public.provider_api_keys AS k
            WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
              AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
        ) AS c
        WHERE v_draw * c.total >= c.running - c.weight AND v_draw * c.total < c.running;
        IF v_key IS NOT NULL THEN
            RETURN v_key;
        END IF;
        EXIT;  -- the keys went meanwhile: the degrade rule
    END LOOP;

    -- No key available in any tier: the enabled, unexpired key whose cooldown ends first, so a
    -- pool under a 429 storm degrades instead of stopping.
    SELECT k.api_key INTO v_key
    FROM public.provider_api_keys AS k
    WHERE k.provider_id = v_provider_id
      AND k.disabled_at IS NULL
      AND k.cooldown_until > now()
      AND (k.expires_at IS NULL OR k.expires_at > now())
    ORDER BY k.cooldown_until, k.tier, k.key_number
    LIMIT 1;
    RETURN v_key;  -- NULL when no key is enabled and unexpired
END
$$;

COMMENT ON FUNCTION public.get_random_api_key(text) IS
    'A random available key of this provider (name case-insensitive) from the lowest tier that has one, in proportion to weight; when none is available, the key whose cooldown ends first; NULL when no key is enabled and unexpired.';

-- The sticky pick: the weighted pick's rounds, with probes drawn from the affinity instead of
-- random(). A probe's class is chosen by weighted rendezvous hashing over the tier's classes (a
-- class whose count x bound changes takes or gives only its own share of affinities), its slot
-- by jump consistent hashing (Lamping and Veach) over the class's count (a key appended takes
-- about 1/count of the class's probes, and no probe moves between the slots there were); a
-- direct probe jumps over the key numbers instead. Where probes miss, rendezvous hashing over
-- the tier's available keys, weighted. The same affinity makes the same probes in the same
-- order, so it keeps its key while the key stays available and its tier serves.
CREATE OR REPLACE FUNCTION public.get_sticky_api_key(p_provider_name text, p_affinity text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = ''
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_provider_id integer;
    v_highest integer;
    v_counts integer[];
    v_masses bigint[];
    v_largest integer[];
    v_direct boolean;
    v_classes integer[];
    v_seed bigint;
    v_probe_seed bigint;
    v_class integer;
    v_best_class integer;
    v_best double precision;
    v_score double precision;
    v_range bigint;
    v_bound integer;
    v_bucket bigint;
    v_next bigint;
    v_key record;
    v_chosen text;
    v_hits integer;
    v_available integer;
    v_limit integer;
BEGIN
    SELECT p.id, p.last_key_number, p.slot_counts, p.tier_masses, p.max_weights
    INTO v_provider_id, v_highest, v_counts, v_masses, v_largest
    FROM public.providers AS p
    WHERE p.provider_name = lower(p_provider_name);
    IF coalesce(v_highest, 0) = 0 THEN
        RETURN NULL;  -- no such provider, or it never had a key
    END IF;
    v_seed := hashtextextended(coalesce(p_affinity, ''), 0);
    v_limit := greatest(256, sqrt(8.0 * v_highest)::integer);

    FOR v_tier IN 1..9 LOOP
        CONTINUE WHEN v_masses[v_tier] = 0;
        v_direct := v_highest::bigint * v_largest[v_tier] <= 2 * v_masses[v_tier];
        v_classes := ARRAY(SELECT c FROM generate_series(0, 9) AS c WHERE v_counts[v_tier * 10 - 9 + c] > 0 ORDER BY c);
        v_hits := 0;
        v_available := NULL;
        -- Rounds: 1 probes 1-4; 2 (when none of them met an available key) the rendezvous over
        -- at most v_limit available keys; 3 probes 5-160; 4 the rendezvous over all of them.
        FOR v_round IN 1..4 LOOP
            IF v_round IN (2, 4) THEN
                CONTINUE WHEN v_round = 2 AND v_hits > 0;
                SELECT c.available, CASE WHEN c.available <= v_limit OR v_round = 4 THEN c.api_key END
                INTO v_available, v_chosen
                FROM (
                    SELECT a.api_key, a.score, count(*) OVER () AS available
                    FROM (
                        SELECT k.api_key,
                               -ln(((hashint8extended(k.key_number, v_seed) & 2147483647) + 0.5) / 2147483648.0) / k.weight
                                   AS score
                        FROM public.provider_api_keys AS k
                        WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                          AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                        LIMIT CASE WHEN v_round = 2 THEN v_limit + 1 END
                    ) AS a
                ) AS c
                ORDER BY c.score
                LIMIT 1;
                IF v_chosen IS NOT NULL THEN
                    RETURN v_chosen;
                END IF;
                v_available := coalesce(v_available, 0);
                EXIT WHEN v_available = 0;  -- nothing available in this tier: the next one
                CONTINUE;
            END IF;
            FOR v_probe IN CASE WHEN v_round = 1 THEN 1 ELSE 5 END..CASE WHEN v_round = 1 THEN 4 ELSE 160 END LOOP
                v_probe_seed := hashint8extended(v_probe, v_seed);
                IF v_direct THEN
                    v_range := v_highest;
                    v_bound := v_largest[v_tier];
                ELSE
                    v_class := v_classes[1];
                    IF cardinality(v_classes) > 1 THEN
                        v_best := NULL;
                        FOREACH v_class IN ARRAY v_classes LOOP
                            v_score := -ln(((hashint8extended(v_class, v_probe_seed # 3074457345618258602) & 2147483647) + 0.5)
                                           / 2147483648.0)
                                       / (v_counts[v_tier * 10 - 9 + v_class]::double precision * least(1000, (2 << v_class) - 1));
                            IF v_best IS NULL OR v_score < v_best THEN
                                v_best := v_score;
                                v_best_class := v_class;
                            END IF;
                        END LOOP;
                        v_class := v_best_class;
                    END IF;
                    v_range := v_counts[v_tier * 10 - 9 + v_class];
                    v_bound := least(1000, (2 << v_class) - 1);
                END IF;
                -- Jump consistent hash of the probe into 0 .. range - 1.
                v_bucket := -1;
                v_next := 0;
                WHILE v_next < v_range LOOP
                    v_bucket := v_next;
                    v_next := floor((v_bucket + 1) / (((hashint8extended(v_bucket, v_probe_seed) & 2147483647) + 1)
                                                      / 2147483648.0::double precision));
                END LOOP;
                IF v_direct THEN
                    SELECT k.api_key, k.weight INTO v_key
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = v_bucket + 1 AND k.tier = v_tier
                      AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                      AND (k.expires_at IS NULL OR k.expires_at > now());
                ELSE
                    SELECT k.api_key, k.weight INTO v_key
                    FROM keyadmin.key_slots AS s
                    JOIN public.provider_api_keys AS k ON k.id = s.key_id
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = v_class
                      AND s.slot = v_bucket + 1
                      AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                      AND (k.expires_at IS NULL OR k.expires_at > now());
                END IF;
                CONTINUE WHEN NOT FOUND;
                v_hits := v_hits + 1;
                IF ((hashint8extended(v_probe, v_seed # 6148914691236517205) & 2147483647) + 0.5) / 2147483648.0 * v_bound
                   < v_key.weight THEN
                    RETURN v_key.api_key;
                END IF;
            END LOOP;
        END LOOP;
        CONTINUE WHEN v_available = 0;
        EXIT;  -- the tier's keys went meanwhile: the degrade rule
    END LOOP;

    -- The degrade rule, as for the random pick.
    RETURN (
        SELECT k.api_key
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id
          AND k.disabled_at IS NULL
          AND k.cooldown_until > now()
          AND (k.expires_at IS NULL OR k.expires_at > now())
        ORDER BY k.cooldown_until, k.tier, k.key_number
        LIMIT 1
    );
END
$$;

COMMENT ON FUNCTION public.get_sticky_api_key(text, text) IS
    'The same available key for the same affinity (a conversation or user id) while it stays available and its tier serves; across affinities in proportion to weight; the degrade rule and NULL as get_random_api_key.';
