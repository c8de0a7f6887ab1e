-- 036_picks_read_no_whole_pool.sql
--
-- The picks' statements, planned once per session (a generic plan), read the whole key table in
-- three states a user reaches with one command, and the matrix of migration 035 had none of them
-- (100,000 keys, a loop of picks inside the server, 2026-12-03):
--
-- 1. Every key cooling down until one moment: one 429 on a key of an account cools every key of
--    the account until the same time, and one --add-bulk --account puts every key in one
--    account. The degrade rule (the enabled key whose cooldown ends first, then the lowest tier,
--    then the lowest number) sorted every cooling key: 42-47 ms a pick, the weighted pick and
--    the sticky one alike. The index below has that order, so the plan reads its first
--    entries: 0.05-0.07 ms.
-- 2. Statistics from before a storm (autovacuum analyzes minutes after the keys cooled down):
--    the look that passes a tier with no key out of cooldown, written NOT EXISTS, was planned
--    as a scan of the table that stops at its first row, and read every row when there was
--    none. It is ORDER BY the partial index's column, LIMIT 1 now: a scan would have to sort.
-- 3. A tenth of the keys available (statistics saying so): the read of at most v_limit + 1
--    available keys was planned as a scan of the table, 3 ms against 0.6 ms through the partial
--    index. It is in the index's order now, in both picks.
--
-- And two changes for the pools between the sparse read and the probes (a hundredth to a tenth
-- of the keys available), where a tier whose first probes met no available key reads v_limit + 1
-- of them and finds more:
--
-- 4. The weighted pick's last probes stop at the first accepted one of 512, each drawn when it
--    runs (a hash of its position under a random seed), instead of 16 then 128 probes that all
--    ran, drawn beforehand. The slot tiers' first four probes are drawn the same way.
-- 5. The sticky pick counts the keys it read and scores them for the rendezvous only when the
--    count decides (when there are more, the count alone sends the pick on to its probes):
--    1.6 against 0.85 ms a round with a tenth available.
--
-- Weighted / sticky pick, us a pick by share of keys available, 035 -> 036 (lookup: 15-20 us):
-- a hundredth 1,239 -> 829 / 1,699 -> 1,523; a tenth 963 -> 267 / 1,360 -> 470; three tenths
-- 137 -> 121 / 295 -> 197; 100 keys and all keys unchanged.
--
-- What the picks return is unchanged: the same proportion to weight, lowest serving tier and
-- degrade rule, the same key for every affinity (the sticky pick's rendezvous is over the same
-- keys; only the order they are read in changed). Same signatures, settings, privileges and
-- comments. The new index replaces provider_api_keys_enabled_by_cooldown (023), whose columns
-- are its first two, so a report that cools a key writes no more index entries than before.
-- Idempotent. No BEGIN/COMMIT (use psql -1).

-- The enabled keys by the end of their cooldown, then tier and number: the degrade rule's order.
CREATE INDEX IF NOT EXISTS provider_api_keys_enabled_by_cooldown_tier_number
    ON public.provider_api_keys (provider_id, cooldown_until, tier, key_number)
    WHERE disabled_at IS NULL;
DROP INDEX IF EXISTS public.provider_api_keys_enabled_by_cooldown;

-- 2., 3. and 4. in the weighted pick: 035's function but for the look, the read's order and round 4.
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
    v_direct boolean;
    v_round integer;
    v_sparse_keys text[];
    v_sparse_weights integer[];
    v_sparse_total bigint;
    v_point double precision;
    v_seed bigint;
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
        v_direct := v_highest::bigint * v_largest[v_tier] <= 2 * v_masses[v_tier];
        -- The first statement's probes of tier 1 missed: a tier with no enabled key out of
        -- cooldown (a 429 storm, the common reason) is passed after one look at the partial
        -- index, instead of four probes and a read. Expiry is left to the reads: an expired key
        -- only means that the look passes nothing. ORDER BY the index's column: as NOT EXISTS,
        -- with statistics from before a storm, the planner scanned the table for a first row.
        IF v_tier = 1 AND v_direct THEN
            PERFORM FROM public.provider_api_keys AS k
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
        -- 128 probes that all ran cost as much as 512 that stop at the first key.
        FOREACH v_round IN ARRAY CASE WHEN v_direct THEN ARRAY[1, 2, 4] ELSE ARRAY[1, 3, 2, 4] END LOOP
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
                    -- of the tier at every call (55-60 ms with 100,000 keys).
                    SELECT s.key_id
                    FROM keyadmin.key_slots AS s
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = c.class
                      AND s.slot = 1 + c.offset_in_class / c.bound
                    LIMIT 1
                ) AS s
                JOIN public.provider_api_keys AS k ON k.id = s.key_id
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
                JOIN public.provider_api_keys AS k
                  ON k.provider_id = v_provider_id AND k.key_number = 1 + floor(d.draw * v_highest)::integer
                WHERE k.tier = v_tier AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now())
                  AND (d.draw * v_highest - floor(d.draw * v_highest)) * v_largest[v_tier] < k.weight
                ORDER BY g.position
                LIMIT 1;
                IF v_key IS NOT NULL THEN
                    RETURN v_key;
                END IF;
                CONTINUE;
            END IF;
            IF v_round = 2 THEN
                CONTINUE WHEN v_hits > 0;
                v_limit := greatest(256, sqrt(8.0 * v_highest)::integer);
                -- At most v_limit + 1 of the tier's available keys, in the partial index's order
                -- (without ORDER BY, statistics saying a tenth of the keys are available made
                -- the generic plan a scan of the table). When there are no more, one of them by
                -- weight: the draw times their total weight, less each weight in turn, falls
                -- below zero on a key with probability weight / total. (This loop costs less
                -- than running sums in window functions: 60 against 103 us a read of 100 keys.)
                SELECT array_agg(a.api_key), array_agg(a.weight), sum(a.weight)
                INTO v_sparse_keys, v_sparse_weights, v_sparse_total
                FROM (
                    SELECT k.api_key, k.weight
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                      AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                    ORDER BY k.cooldown_until
                    LIMIT v_limit + 1
                ) AS a;
                v_available := coalesce(cardinality(v_sparse_keys), 0);
                EXIT WHEN v_available = 0;  -- nothing available in this tier: the next one
                CONTINUE WHEN v_available > v_limit;
                v_point := random() * v_sparse_total;
                FOR v_index IN 1..v_available LOOP
                    v_point := v_point - v_sparse_weights[v_index];
                    IF v_point < 0 OR v_index = v_available THEN
                        RETURN v_sparse_keys[v_index];
                    END IF;
                END LOOP;
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
                CROSS JOIN LATERAL (
                    SELECT s.key_id  -- one probe per draw, as in round 1
                    FROM keyadmin.key_slots AS s
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = x.class AND s.slot = x.slot
                    LIMIT 1
                ) AS s
                JOIN public.provider_api_keys AS k ON k.id = s.key_id
                WHERE k.disabled_at IS NULL AND k.cooldown_until <= now()
                  AND (k.expires_at IS NULL OR k.expires_at > now());
            END IF;
            IF v_key IS NOT NULL THEN
                RETURN v_key;
            END IF;
        END LOOP;
        CONTINUE WHEN v_available = 0;

        -- Many keys available, yet 516 to 532 probes missed (light keys among heavy
        -- unavailable ones): every available key of the tier, exactly by weight.
        v_draw := random();
        SELECT c.api_key INTO v_key
        FROM (
            SELECT k.api_key, k.weight,
                   sum(k.weight) OVER (ROWS UNBOUNDED PRECEDING) AS running, sum(k.weight) OVER () AS total
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
    -- pool under a 429 storm degrades instead of stopping. The index this migration creates has
    -- this order: the plan reads its first entries, where it sorted every cooling key.
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

-- 2., 3. and 5. in the sticky pick: 035's function but for the look and the bounded rendezvous.
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
    v_probed_key text;
    v_probed_weight integer;
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
                WITH a AS MATERIALIZED (
                    SELECT k.api_key, k.key_number, k.weight
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                      AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                    ORDER BY k.cooldown_until  -- the partial index's order: never a scan of the table
                    LIMIT CASE WHEN v_round = 2 THEN v_limit + 1 END
                )
                SELECT c.available,
                       CASE WHEN c.available <= v_limit OR v_round = 4 THEN (
                           SELECT a.api_key
                           FROM a
                           ORDER BY -ln(((hashint8extended(a.key_number, v_seed) & 2147483647) + 0.5::double precision) / 2147483648.0::double precision) / a.weight
                           LIMIT 1
                       ) END
                INTO v_available, v_chosen
                FROM (SELECT count(*) AS available FROM a) AS c;
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
                -- Jump consistent hash of the probe into 0 .. range - 1.
                v_bucket := -1;
                v_next := 0;
                WHILE v_next < v_range LOOP
                    v_bucket := v_next;
                    v_next := floor((v_bucket + 1) / (((hashint8extended(v_bucket, v_probe_seed) & 2147483647) + 1)
                                                      / 2147483648.0::double precision));
                END LOOP;
                IF v_direct THEN
                    SELECT k.api_key, k.weight INTO v_probed_key, v_probed_weight
                    FROM public.provider_api_keys AS k
                    WHERE k.provider_id = v_provider_id AND k.key_number = v_bucket + 1 AND k.tier = v_tier
                      AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                      AND (k.expires_at IS NULL OR k.expires_at > now());
                ELSE
                    SELECT k.api_key, k.weight INTO v_probed_key, v_probed_weight
                    FROM keyadmin.key_slots AS s
                    JOIN public.provider_api_keys AS k ON k.id = s.key_id
                    WHERE s.provider_id = v_provider_id AND s.tier = v_tier AND s.weight_class = v_class
                      AND s.slot = v_bucket + 1
                      AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                      AND (k.expires_at IS NULL OR k.expires_at > now());
                END IF;
                IF NOT FOUND THEN
                    -- The tier's first probe missed: a tier with no enabled key out of cooldown
                    -- (a 429 storm) is passed after one look at the partial index, instead of
                    -- three more probes and a read that would find nothing. No affinity moves:
                    -- such a tier never serves one. ORDER BY the index's column, as in the
                    -- random pick: never a scan of the table, whatever the statistics say.
                    IF v_probe = 1 THEN
                        PERFORM FROM public.provider_api_keys AS k
                        WHERE k.provider_id = v_provider_id AND k.tier = v_tier AND k.disabled_at IS NULL
                          AND k.cooldown_until <= now()
                        ORDER BY k.cooldown_until
                        LIMIT 1;
                        IF NOT FOUND THEN
                            v_available := 0;
                            EXIT rounds;
                        END IF;
                    END IF;
                    CONTINUE;
                END IF;
                v_hits := v_hits + 1;
                IF ((hashint8extended(v_probe, v_seed # 6148914691236517205) & 2147483647) + 0.5::double precision) / 2147483648.0::double precision * v_bound
                   < v_probed_weight THEN
                    RETURN v_probed_key;
                END IF;
            END LOOP;
        END LOOP;
        CONTINUE WHEN v_available = 0;
        EXIT;  -- the tier's keys went meanwhile: the degrade rule
    END LOOP;

    -- The degrade rule, as for the random pick (the first entries of this migration's index).
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
