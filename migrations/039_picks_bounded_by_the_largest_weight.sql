-- 039_picks_bounded_by_the_largest_weight.sql
--
-- Direct probes (a tier whose keys fill at least half of number range x largest bound: equal
-- weights, weights 1-10) draw a key number and accept the key when a draw times a bound is below
-- its weight. The bound was that of the tier's heaviest weight class (030), 15 for weights 1-10,
-- as the tier's largest weight itself was not kept: finding it again when its key leaves would
-- have read the tier. So a weighted probe that met an available key took it 0.37 of the time on
-- average where weight / 10 would take it 0.55, and every sticky probe was read, even one whose
-- draw no key of the tier could pass. Here:
--
-- 1. An index on the keys by provider, tier and weight: the tier's largest weight is the last
--    entry of its range, one descent whatever the pool.
-- 2. providers.largest_weights holds it for each tier (1 for a tier without keys; every key
--    counts, whatever its state, as the slots do: a cooldown moves nothing), written by
--    keyadmin.store_slot_layout, which the slot triggers call once per statement that adds,
--    deletes or moves keys, and now also after an UPDATE that changes a weight within its class.
--    Such an UPDATE locks the provider's row as a move does (FOR NO KEY UPDATE), so that two
--    writers cannot each store a largest weight that misses the other's change.
-- 3. The weighted pick accepts a direct probe with weight / the tier's largest weight. Any bound
--    at least the largest weight keeps every key's chance exactly weight / (sum of the available
--    weights); a smaller bound only means fewer probes miss.
-- 4. The sticky pick keeps its bounds (a bound that followed the largest weight would move most
--    of a tier's affinities whenever that weight changed), but passes a probe whose draw times
--    the bound is at or above the tier's largest weight without computing its jump hash or
--    reading its key: no key could pass it. Round 1 still reads such a probe until one has met
--    an available key, since whether one has decides round 2. Every affinity keeps its key.
--
-- Measured with 100,000 keys, weights 1-10 and 30% unusable, against scratch copies of 038's
-- functions in the same database (2026-12-03): the weighted pick 62.5 -> 42.1 us inside the
-- server (least of 11 alternated rounds), 0.47-0.55 -> 0.56-0.67 of the lookup's calls a second
-- at eight clients; the sticky pick 4.84 -> 4.23 statements a pick, 65.4 -> 62.7 us, and no
-- difference resolved at eight clients. Applying this file to 100,000 keys: 0.12 s.
--
-- Writes: each write of a key's weight, tier or provider writes an entry of the new index, and
-- so does a report that starts or ends a cooldown (such updates are not HOT: cooldown_until is
-- indexed). A change of weight within its class now stores the provider's layout again (one
-- probe of each class's last slot and of each tier's largest weight).
--
-- The weighted pick restated here is 037's as 037 was edited after it first shipped (the read of
-- every available key as round 5, sharing round 2's fetch of the chosen key): 037's file is back
-- as it first shipped, and this file brings the edit to every database, whichever text of 037
-- it applied (the migrator takes either checksum for 037).
--
-- Same signatures, privileges and comments; the picks' settings are 038's. Idempotent. No
-- BEGIN/COMMIT (use psql -1).

-- 1. Built first: its SHARE lock holds every key writer until commit, so no weight changes
-- while the largest weights are first stored below.
CREATE INDEX IF NOT EXISTS provider_api_keys_by_tier_and_weight
    ON public.provider_api_keys (provider_id, tier, weight);

-- 2. 030's layout and the tier's largest weight.
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
    v_weights integer[] := array_fill(1, ARRAY[9]);
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
        IF v_masses[v_tier] > 0 THEN
            -- The last entry of the tier's range in provider_api_keys_by_tier_and_weight.
            v_weights[v_tier] := (SELECT max(k.weight) FROM public.provider_api_keys AS k
                                  WHERE k.provider_id = p_provider_id AND k.tier = v_tier);
        END IF;
    END LOOP;
    UPDATE public.providers AS p
    SET slot_counts = v_counts, slot_starts = v_starts, tier_masses = v_masses, max_weights = v_largest,
        largest_weights = v_weights
    WHERE p.id = p_provider_id
      AND (p.slot_counts, p.slot_starts, p.tier_masses, p.max_weights, p.largest_weights)
          IS DISTINCT FROM (v_counts, v_starts, v_masses, v_largest, v_weights);
END
$$;

-- 032's statement trigger, for every key whose weight, tier or provider the statement changed:
-- the providers they were in and are in now are locked first, in id order (remove_slots and
-- append_slots then find their locks held), the keys that changed class move, and each of
-- those providers' layout is stored again.
CREATE OR REPLACE FUNCTION keyadmin.slots_after_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_queued integer[];
    v_moved integer[];
    v_providers integer[];
    v_provider_id integer;
BEGIN
    WITH queued AS (DELETE FROM keyadmin.key_slot_changes RETURNING key_id)
    SELECT ARRAY(SELECT DISTINCT q.key_id FROM queued AS q) INTO v_queued;
    IF cardinality(v_queued) = 0 THEN
        RETURN NULL;
    END IF;
    v_providers := ARRAY(SELECT k.provider_id FROM public.provider_api_keys AS k WHERE k.id = ANY (v_queued)
                         UNION
                         SELECT s.provider_id FROM keyadmin.key_slots AS s WHERE s.key_id = ANY (v_queued)
                         ORDER BY 1);
    PERFORM 1 FROM public.providers AS p WHERE p.id = ANY (v_providers) ORDER BY p.id FOR NO KEY UPDATE;
    v_moved := ARRAY(SELECT k.id
                     FROM public.provider_api_keys AS k
                     LEFT JOIN keyadmin.key_slots AS s ON s.key_id = k.id
                     WHERE k.id = ANY (v_queued)
                       AND (s.key_id IS NULL OR s.provider_id <> k.provider_id OR s.tier <> k.tier
                            OR s.weight_class <> keyadmin.weight_class(k.weight)));
    IF cardinality(v_moved) > 0 THEN
        -- Two statements, freeing first (032).
        PERFORM keyadmin.remove_slots(v_moved);
        PERFORM keyadmin.append_slots(v_moved);
    END IF;
    FOREACH v_provider_id IN ARRAY v_providers LOOP
        PERFORM keyadmin.store_slot_layout(v_provider_id);
    END LOOP;
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
        tier_masses = array_fill(0::bigint, ARRAY[9]), max_weights = array_fill(1, ARRAY[9]),
        largest_weights = array_fill(1, ARRAY[9])
    WHERE p.tier_masses <> array_fill(0::bigint, ARRAY[9]);
    RETURN NULL;
END
$$;

-- The row trigger queues every change of weight now, not only a change of class. (The WHEN
-- clause runs as the writer and names no function of keyadmin's, as 030's.)
DROP TRIGGER IF EXISTS key_slots_on_update ON public.provider_api_keys;
CREATE TRIGGER key_slots_on_update AFTER UPDATE OF tier, weight, provider_id ON public.provider_api_keys
    FOR EACH ROW WHEN (NEW.tier <> OLD.tier OR NEW.provider_id <> OLD.provider_id OR NEW.weight <> OLD.weight)
    EXECUTE FUNCTION keyadmin.slots_on_update();

-- The column comes after the functions: ALTER TABLE holds the providers table's ACCESS EXCLUSIVE
-- lock until commit, which stops every backend's pick (030).
ALTER TABLE public.providers
    ADD COLUMN IF NOT EXISTS largest_weights integer[] NOT NULL DEFAULT array_fill(1, ARRAY[9]);

COMMENT ON COLUMN public.providers.largest_weights IS
    'For each tier, the largest weight of its keys, whatever their state (1 when it has no key), kept by triggers: the bound of the weighted pick''s direct probe.';

-- The first time (every tier at 1 while it has keys): each provider's layout, now with its
-- largest weights. Later runs find them stored.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.providers AS p
               WHERE p.tier_masses <> array_fill(0::bigint, ARRAY[9])
                 AND p.largest_weights = array_fill(1, ARRAY[9])) THEN
        PERFORM keyadmin.store_slot_layout(p.id) FROM public.providers AS p ORDER BY p.id;
    END IF;
END
$$;

-- 3. The weighted pick: 037's function (edited, above) with 038's setting, but for its direct
-- probes' bound.
CREATE OR REPLACE FUNCTION public.get_random_api_key(p_provider_name text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
SET plan_cache_mode = force_generic_plan
SET enable_memoize = off
AS $$
DECLARE
    v_provider_id integer;
    v_highest integer;
    v_masses bigint[];
    v_starts bigint[];
    v_largest integer[];
    v_weights integer[];
    v_tier_starts bigint[];
    v_key text;
    v_hits integer;
    v_available integer;
    v_draws double precision[];
    v_draw double precision;
    v_limit integer;
    v_direct boolean;
    v_round integer;
    v_sparse_numbers integer[];
    v_sparse_weights integer[];
    v_sparse_total bigint;
    v_sparse_largest integer;
    v_chosen integer;
    v_point double precision;
    v_seed bigint;
BEGIN
    -- The provider's row, and four direct probes of tier 1 where they apply (the common pool:
    -- one tier, equal weights): most calls end with this one statement. Where they do not apply,
    -- the condition on the provider's row below gives no probe rows, and the rounds begin.
    v_draws := ARRAY[random(), random(), random(), random()];
    SELECT p.id, p.last_key_number, p.tier_masses, p.slot_starts, p.max_weights, p.largest_weights, probe.api_key
    INTO v_provider_id, v_highest, v_masses, v_starts, v_largest, v_weights, v_key
    FROM public.providers AS p
    LEFT JOIN LATERAL (
        SELECT k.api_key
        FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
        CROSS JOIN LATERAL (
            SELECT k.api_key, k.tier, k.weight, k.disabled_at, k.cooldown_until, k.expires_at
            FROM public.provider_api_keys AS k
            WHERE k.provider_id = p.id AND k.key_number = 1 + floor(d.draw * p.last_key_number)::integer
            OFFSET 0  -- the probed key by its number alone, whatever the statistics (1. at the top)
        ) AS k
        WHERE p.last_key_number::bigint * p.max_weights[1] <= 2 * p.tier_masses[1]
          AND k.tier = 1 AND k.disabled_at IS NULL AND k.cooldown_until <= now()
          AND (k.expires_at IS NULL OR k.expires_at > now())
          AND (d.draw * p.last_key_number - floor(d.draw * p.last_key_number)) * p.largest_weights[1] < k.weight
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
        v_direct := v_highest::bigint * v_largest[v_tier] <= 2 * v_masses[v_tier];
        -- The first statement's probes of tier 1 missed: a tier with no enabled key out of
        -- cooldown (a 429 storm, the common reason) is passed after one look at the partial
        -- index, instead of four probes and a read. Expiry is left to the reads: an expired key
        -- only means that the look passes nothing. ORDER BY the index's column: as NOT EXISTS,
        -- with statistics from before a storm, the planner scanned the table for a first row.
        -- k.weight, which only this migration's index holds, keeps the look on that index,
        -- where a tier's keys out of cooldown are a range of their own: the degrade rule's
        -- index (036) costs within 10% in a generic plan and interleaves the tiers (tier 2
        -- serving 1,000 keys: 62 against 12 us a look).
        IF v_tier = 1 AND v_direct THEN
            PERFORM k.weight FROM public.provider_api_keys AS k
            WHERE k.provider_id = v_provider_id AND k.tier = 1 AND k.disabled_at IS NULL
              AND k.cooldown_until <= now()
            ORDER BY k.cooldown_until
            LIMIT 1;
            CONTINUE WHEN NOT FOUND;
        END IF;
        -- Rounds 1, 2 and 4 for a direct tier; 1, 3, 2, 4 through the slots, whose round 1
        -- stops at its first accepted probe and so cannot count the probes that met an
        -- available key: round 3 counts them before round 2 asks whether the tier is sparse.
        -- Round 4 stops at its first accepted probe of 512: a tier reaches it with more keys
        -- available than round 2 reads (a hundredth of them at least, 100,000 keys), where
        -- 128 probes that all ran cost as much as 512 that stop at the first key. Round 5
        -- reads every available key, and like round 2 then fetches the one it chose.
        FOREACH v_round IN ARRAY CASE WHEN v_direct THEN ARRAY[1, 2, 4, 5] ELSE ARRAY[1, 3, 2, 4, 5] END LOOP
            IF v_round IN (1, 4) AND NOT v_direct THEN
                -- Four (round 4: 512) probes through the slots, in order: WITH ORDINALITY gives
                -- the nested loop the order of ORDER BY, so the plan stops at the first probe
                -- accepted instead of running them all, sorting and aggregating. Each probe's
                -- draw is a hash of its position under this statement's random seed, computed
                -- when the probe runs (an array of 512 random() cost 80-90 us before any probe).
                v_tier_starts := v_starts[v_tier * 10 - 9:v_tier * 10];
                v_seed := floor(random() * 9007199254740992.0)::bigint;
                SELECT k.api_key INTO v_key
                FROM generate_series(1, CASE WHEN v_round = 1 THEN 4 ELSE 512 END) WITH ORDINALITY AS g(i, position)
                CROSS JOIN LATERAL (
                    SELECT (hashint8extended(g.i, v_seed) & 9007199254740991) / 9007199254740992.0::double precision AS draw
                    OFFSET 0
                ) AS d
                CROSS JOIN LATERAL (
                    SELECT q.point - v_tier_starts[q.class + 1] AS offset_in_class, q.class,
                           least(1000, (2 << q.class) - 1) AS bound
                    FROM (SELECT floor(d.draw * v_masses[v_tier])::bigint AS point,
                                 width_bucket(floor(d.draw * v_masses[v_tier])::bigint, v_tier_starts) - 1 AS class) AS q
                    OFFSET 0
                ) AS c
                CROSS JOIN LATERAL (
                    -- One probe of the slots' key per draw, whatever the statistics say: as a
                    -- join, before key_slots was first analyzed, the planner hashed every slot
                    -- of the tier at every call (55-60 ms with 100,000 keys). The slot's key is
                    -- read by its id alone, the availability conditions outside (1. at the top).
                    SELECT k.api_key, k.weight, k.disabled_at, k.cooldown_until, k.expires_at
                    FROM keyadmin.key_slots AS s
                    JOIN public.provider_api_keys AS k ON k.id = s.key_id
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = c.class
                      AND s.slot = 1 + c.offset_in_class / c.bound
                    LIMIT 1
                ) AS k
                WHERE k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now()) AND c.offset_in_class % c.bound < k.weight
                ORDER BY g.position
                LIMIT 1;
                IF v_key IS NOT NULL THEN
                    RETURN v_key;
                END IF;
                CONTINUE;
            END IF;
            IF v_round = 4 THEN
                -- A direct tier's 512 probes, stopping at the first accepted one, drawn as above.
                v_seed := floor(random() * 9007199254740992.0)::bigint;
                SELECT k.api_key INTO v_key
                FROM generate_series(1, 512) WITH ORDINALITY AS g(i, position)
                CROSS JOIN LATERAL (
                    SELECT (hashint8extended(g.i, v_seed) & 9007199254740991) / 9007199254740992.0::double precision AS draw
                    OFFSET 0
                ) AS d
                CROSS JOIN LATERAL (
                    SELECT k.api_key, k.tier, k.weight, k.disabled_at, k.cooldown_until, k.expires_at
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = 1 + floor(d.draw * v_highest)::integer
                    OFFSET 0  -- the probed key by its number alone (1. at the top)
                ) AS k
                WHERE k.tier = v_tier AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now())
                  AND (d.draw * v_highest - floor(d.draw * v_highest)) * v_weights[v_tier] < k.weight
                ORDER BY g.position
                LIMIT 1;
                IF v_key IS NOT NULL THEN
                    RETURN v_key;
                END IF;
                CONTINUE;
            END IF;
            IF v_round IN (2, 5) THEN
                IF v_round = 2 THEN
                    CONTINUE WHEN v_hits > 0;
                    v_limit := greatest(256, sqrt(8.0 * v_highest)::integer);
                    -- At most v_limit + 1 of the tier's available keys, in the partial index's
                    -- order (without ORDER BY, statistics saying a tenth of the keys are
                    -- available made the generic plan a scan of the table): their numbers and
                    -- weights only, which this migration's index holds, so that no page the
                    -- visibility map calls all-visible is read. When there are no more, one of
                    -- them by weight, and then its key, by number.
                    SELECT array_agg(a.key_number), array_agg(a.weight), sum(a.weight), max(a.weight)
                    INTO v_sparse_numbers, v_sparse_weights, v_sparse_total, v_sparse_largest
                    FROM (
                        SELECT k.key_number, k.weight
                        FROM public.provider_api_keys AS k
                        WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                          AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                        ORDER BY k.cooldown_until
                        LIMIT v_limit + 1
                    ) AS a;
                    v_available := coalesce(cardinality(v_sparse_numbers), 0);
                    EXIT WHEN v_available = 0;  -- nothing available in this tier: the next one
                    CONTINUE WHEN v_available > v_limit;
                    -- Up to eight draws of one of them, uniformly, each accepted with its weight
                    -- over the largest read (equal weights: the first draw); failing those, the
                    -- walk: the draw times their total weight, less each weight in turn, falls
                    -- below zero on a key with probability weight / total. Either way a key's
                    -- chance is weight / total.
                    v_chosen := NULL;
                    FOR v_try IN 1..8 LOOP
                        v_point := random() * v_available;
                        IF (v_point - floor(v_point)) * v_sparse_largest < v_sparse_weights[1 + floor(v_point)::integer] THEN
                            v_chosen := v_sparse_numbers[1 + floor(v_point)::integer];
                            EXIT;
                        END IF;
                    END LOOP;
                    IF v_chosen IS NULL THEN
                        v_point := random() * v_sparse_total;
                        FOR v_index IN 1..v_available LOOP
                            v_point := v_point - v_sparse_weights[v_index];
                            IF v_point < 0 OR v_index = v_available THEN
                                v_chosen := v_sparse_numbers[v_index];
                                EXIT;
                            END IF;
                        END LOOP;
                    END IF;
                ELSE
                    -- Many keys available, yet 516 to 532 probes missed (light keys among heavy
                    -- unavailable ones): every available key of the tier, exactly by weight,
                    -- from the index's numbers and weights as in round 2.
                    v_draw := random();
                    SELECT c.key_number INTO v_chosen
                    FROM (
                        SELECT k.key_number, k.weight,
                               sum(k.weight) OVER (ROWS UNBOUNDED PRECEDING) AS running, sum(k.weight) OVER () AS total
                        FROM public.provider_api_keys AS k
                        WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                          AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                    ) AS c
                    WHERE v_draw * c.total >= c.running - c.weight AND v_draw * c.total < c.running;
                END IF;
                -- The chosen key. Each statement of this function sees what was committed when it
                -- began: a key disabled or cooling since the read sends the pick on to round 4
                -- (from round 2) or to the degrade rule (from round 5).
                SELECT k.api_key INTO v_key
                FROM (
                    SELECT k.api_key, k.tier, k.disabled_at, k.cooldown_until, k.expires_at
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = v_chosen
                    OFFSET 0  -- the chosen key by its number alone (1. at the top)
                ) AS k
                WHERE k.tier = v_tier AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now());
                IF v_key IS NOT NULL THEN
                    RETURN v_key;
                END IF;
                CONTINUE;
            END IF;
            -- Probes that count the keys they met available: a direct tier's round 1 (four) and
            -- a slot tier's round 3 (sixteen).
            v_draws := CASE v_round
                           WHEN 1 THEN ARRAY[random(), random(), random(), random()]
                           ELSE ARRAY(SELECT random() FROM generate_series(1, 16))
                       END;
            IF v_direct THEN
                -- Direct: key number 1 + floor(u x highest); the fraction left of u x highest,
                -- times the tier's largest weight, accepts when below the weight.
                SELECT (array_agg(k.api_key ORDER BY d.position)
                            FILTER (WHERE (d.draw * v_highest - floor(d.draw * v_highest)) * v_weights[v_tier] < k.weight))[1],
                       count(*)
                INTO v_key, v_hits
                FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
                CROSS JOIN LATERAL (
                    SELECT k.api_key, k.tier, k.weight, k.disabled_at, k.cooldown_until, k.expires_at
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = 1 + floor(d.draw * v_highest)::integer
                    OFFSET 0  -- the probed key by its number alone (1. at the top)
                ) AS k
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
                CROSS JOIN LATERAL (
                    SELECT k.api_key, k.weight, k.disabled_at, k.cooldown_until, k.expires_at  -- one probe per draw, as in round 1
                    FROM keyadmin.key_slots AS s
                    JOIN public.provider_api_keys AS k ON k.id = s.key_id
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = x.class AND s.slot = x.slot
                    LIMIT 1
                ) AS k
                WHERE k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now());
            END IF;
            IF v_key IS NOT NULL THEN
                RETURN v_key;
            END IF;
        END LOOP;
        CONTINUE WHEN v_available = 0;
        EXIT;  -- the keys went meanwhile: the degrade rule
    END LOOP;

    -- No key available in any tier: the enabled, unexpired key whose cooldown ends first, so a
    -- pool under a 429 storm degrades instead of stopping (the first entries of 036's index).
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

-- 4. The sticky pick: 038's function, but for the probes no key can pass.
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
    v_weights integer[];
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
    v_probed_key text;
    v_probed_weight integer;
    v_chosen text;
    v_hits integer;
    v_available integer;
    v_limit integer;
    v_chosen_number integer;
    v_probed_tier integer;
    v_probed_disabled timestamptz;
    v_probed_cooldown timestamptz;
    v_probed_expiry timestamptz;
    v_draw double precision;
BEGIN
    SELECT p.id, p.last_key_number, p.slot_counts, p.tier_masses, p.max_weights, p.largest_weights
    INTO v_provider_id, v_highest, v_counts, v_masses, v_largest, v_weights
    FROM public.providers AS p
    WHERE p.provider_name = lower(p_provider_name);
    IF coalesce(v_highest, 0) = 0 THEN
        RETURN NULL;  -- no such provider, or it never had a key
    END IF;
    v_seed := hashtextextended(coalesce(p_affinity, ''), 0);
    v_limit := greatest(256, sqrt(8.0::double precision * v_highest)::integer);

    FOR v_tier IN 1..9 LOOP
        CONTINUE WHEN v_masses[v_tier] = 0;
        v_direct := v_highest::bigint * v_largest[v_tier] <= 2 * v_masses[v_tier];
        IF NOT v_direct THEN
            v_classes := '{}';
            FOR v_class IN 0..9 LOOP
                IF v_counts[v_tier * 10 - 9 + v_class] > 0 THEN
                    v_classes := v_classes || v_class;
                END IF;
            END LOOP;
        END IF;
        v_hits := 0;
        v_available := NULL;
        -- Rounds: 1 probes 1-4; 2 (when none of them met an available key) the rendezvous over
        -- at most v_limit available keys; 3 probes 5-160; 4 the rendezvous over all of them.
        <<rounds>>
        FOR v_round IN 1..4 LOOP
            IF v_round IN (2, 4) THEN
                CONTINUE WHEN v_round = 2 AND v_hits > 0;
                -- The keys are read once (MATERIALIZED) and counted; their rendezvous scores
                -- are computed and sorted only when the count says this round decides (034
                -- scored and sorted all v_limit + 1 of a tier with more: 1.6 against 0.85 ms).
                -- Their numbers and weights only, as in the random pick, then the chosen key:
                -- this function's statements all see one snapshot, so it is the key scored.
                WITH a AS MATERIALIZED (
                    SELECT k.key_number, k.weight
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                      AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                    ORDER BY k.cooldown_until  -- the partial index's order: never a scan of the table
                    LIMIT CASE WHEN v_round = 2 THEN v_limit + 1 END
                )
                SELECT c.available,
                       CASE WHEN c.available <= v_limit OR v_round = 4 THEN (
                           SELECT a.key_number
                           FROM a
                           ORDER BY -ln(((hashint8extended(a.key_number, v_seed) & 2147483647) + 0.5::double precision) / 2147483648.0::double precision) / a.weight
                           LIMIT 1
                       ) END
                INTO v_available, v_chosen_number
                FROM (SELECT count(*) AS available FROM a) AS c;
                IF v_chosen_number IS NOT NULL THEN
                    SELECT k.api_key INTO v_chosen
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = v_chosen_number;
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
                            v_score := -ln(((hashint8extended(v_class, v_probe_seed # 3074457345618258602) & 2147483647) + 0.5::double precision)
                                           / 2147483648.0::double precision)
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
                -- The draw that accepts the probed key when below its weight (4. at the top): at
                -- or above the tier's largest weight it accepts no key of the tier, and the probe
                -- is passed without its jump hash or its read, unless round 1 has yet to learn
                -- whether a probe meets an available key (round 2 runs only when none does).
                v_draw := ((hashint8extended(v_probe, v_seed # 6148914691236517205) & 2147483647) + 0.5::double precision)
                          / 2147483648.0::double precision;
                CONTINUE WHEN v_draw * v_bound >= v_weights[v_tier] AND (v_round = 3 OR v_hits > 0);
                -- Jump consistent hash of the probe into 0 .. range - 1.
                v_bucket := -1;
                v_next := 0;
                WHILE v_next < v_range LOOP
                    v_bucket := v_next;
                    v_next := floor((v_bucket + 1) / (((hashint8extended(v_bucket, v_probe_seed) & 2147483647) + 1)
                                                      / 2147483648.0::double precision));
                END LOOP;
                -- The probed key alone, by its number or through its slot: a lookup of one row by
                -- a unique index, whatever the statistics say; its state checked here (038).
                IF v_direct THEN
                    SELECT k.api_key, k.weight, k.tier, k.disabled_at, k.cooldown_until, k.expires_at
                    INTO v_probed_key, v_probed_weight, v_probed_tier, v_probed_disabled, v_probed_cooldown, v_probed_expiry
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = v_bucket + 1;
                ELSE
                    SELECT k.api_key, k.weight, k.tier, k.disabled_at, k.cooldown_until, k.expires_at
                    INTO v_probed_key, v_probed_weight, v_probed_tier, v_probed_disabled, v_probed_cooldown, v_probed_expiry
                    FROM keyadmin.key_slots AS s
                    JOIN public.provider_api_keys AS k ON k.id = s.key_id
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = v_class
                      AND s.slot = v_bucket + 1;
                END IF;
                -- No row (a gap in the numbers) leaves every variable NULL: not available.
                IF v_probed_tier = v_tier AND v_probed_disabled IS NULL AND v_probed_cooldown <= now()
                   AND (v_probed_expiry IS NULL OR v_probed_expiry > now()) THEN
                    v_hits := v_hits + 1;
                    IF v_draw * v_bound < v_probed_weight THEN
                        RETURN v_probed_key;
                    END IF;
                ELSIF v_probe = 1 THEN
                    -- The tier's first probe missed: a tier with no enabled key out of cooldown
                    -- (a 429 storm) is passed after one look at the partial index, instead of
                    -- three more probes and a read that would find nothing. No affinity moves:
                    -- such a tier never serves one. ORDER BY the index's column: never a scan
                    -- of the table, whatever the statistics say; and k.weight, which only 037's
                    -- index holds, to read that index.
                    PERFORM k.weight FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                      AND k.cooldown_until <= now()
                    ORDER BY k.cooldown_until
                    LIMIT 1;
                    IF NOT FOUND THEN
                        v_available := 0;
                        EXIT rounds;
                    END IF;
                END IF;
            END LOOP;
        END LOOP;
        CONTINUE WHEN v_available = 0;
        EXIT;  -- the tier's keys went meanwhile: the degrade rule
    END LOOP;

    -- The degrade rule, as for the random pick (the first entries of 036's index).
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
