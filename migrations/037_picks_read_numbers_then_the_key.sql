-- 037_picks_read_numbers_then_the_key.sql
--
-- Two things the picks read more of the key table than they need (100,000 keys, loops of picks
-- inside the server after VACUUM ANALYZE unless said, 2026-12-03):
--
-- 1. Statistics from a storm outlive it. A key's cooldown ends without a write, so after a
--    storm nothing analyzes the table again until other writes do, and the statistics say
--    that no key is available. With them, the plans of the probes (each key by its number, or
--    by its slot's id) read the partial index's range of available keys, which they expected
--    to be empty, and joined the probes to it: every available key at every probe, 930 rows a
--    pick with 10,000 keys, 76 ms a pick with 100,000 (036 as it shipped). Each probe now reads
--    its key by number or id alone, in a subquery that OFFSET 0 or LIMIT 1 keeps whole: the
--    availability conditions stay outside it, so no plan can reach the key through that range,
--    whatever the statistics say. The same for the key a read chooses (below) and the sticky
--    pick's probe by number.
-- 2. When a tier's first probes meet no available key, the picks read its available keys (at
--    most v_limit + 1 of them; all of them for the weighted pick's last resort and the sticky
--    pick's round 4) and choose one. They read each key's row for its number, weight and key:
--    75-80 us for 100 keys wherever they lie, most of a pick that cost 165-210 us against
--    14-20 us for the lookup (100 keys available of 100,000). The index below holds what the
--    choice needs, the number, weight and expiry of each enabled key, by provider, tier and
--    end of cooldown (030's index, which it replaces, plus those three columns); the reads
--    take numbers and weights from it, an index-only scan that reads no page the visibility
--    map calls all-visible, and then the chosen key by its number: 15-20 us for 100 keys.
--    Where the map is not set (pages written since the last vacuum, as during a storm), the
--    scan reads the rows as before.
--    The looks that pass a tier with no key out of cooldown read the same index: with the
--    degrade rule's (036), as generic plans may choose, a look at tier 1 read tier 2's keys
--    out of cooldown too (tier 2 serving 1,000 keys: 62 against 12 us).
-- 3. The weighted pick chooses among the keys read by up to eight uniform draws, each
--    accepted with weight / the largest weight read (with equal weights, the first), before
--    the walk over running weights that 035 brought in (50 steps on average for 100 keys).
--
-- Measured inside the server, us a pick 036 -> 037, weighted / sticky (the lookup 14-20):
-- 100 keys available 165-190 -> 140-150 / 170-175 -> 150; a hundredth 860-940 -> 610-640 /
-- 1,480-1,500 -> 1,190-1,280; a tenth 260-290 -> 195-205 / 400-480 -> 340-345; all available,
-- equal weights, 25-26 / 22-23 unchanged. pgbench, eight clients, 100 keys available, ratio to
-- the lookup: 0.27-0.30 -> 0.32-0.36 (weighted), 0.26-0.28 -> 0.28-0.32 (sticky).
--
-- What the picks return is unchanged: the same proportion to weight, lowest serving tier and
-- degrade rule, and the same key for every affinity (the rendezvous is over the same keys and
-- numbers). A weighted pick whose chosen key was disabled or cooled between the read and the
-- fetch goes on to its next round, as one whose probes missed. Same signatures, settings,
-- privileges and comments. Writes: an update of a key's weight or expiry now writes an entry
-- of the index (those are an operator's changes; a report's updates touch neither). The index
-- is built before 030's is dropped, so the picks always have one. Idempotent. No BEGIN/COMMIT
-- (use psql -1).

-- The enabled keys by provider, tier and end of cooldown, with what a pick's read needs.
CREATE INDEX IF NOT EXISTS provider_api_keys_enabled_by_tier_with_weight
    ON public.provider_api_keys (provider_id, tier, cooldown_until) INCLUDE (key_number, weight, expires_at)
    WHERE disabled_at IS NULL;
DROP INDEX IF EXISTS public.provider_api_keys_enabled_by_tier;

-- The weighted pick: 036's function but for its probes (1.), round 2 and the read of every key (2., 3.).
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
    SELECT p.id, p.last_key_number, p.tier_masses, p.slot_starts, p.max_weights, probe.api_key
    INTO v_provider_id, v_highest, v_masses, v_starts, v_largest, v_key
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
                -- the generic plan a scan of the table): their numbers and weights only, which
                -- this migration's index holds, so that no page the visibility map calls
                -- all-visible is read. When there are no more, one of them by weight, and then
                -- its key, by number.
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
                -- Up to eight draws of one of them, uniformly, each accepted with its weight over
                -- the largest read (equal weights: the first draw); failing those, the walk: the
                -- draw times their total weight, less each weight in turn, falls below zero on a
                -- key with probability weight / total. Either way a key's chance is weight / total.
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
                -- Each statement of this function sees what was committed when it began: a key
                -- disabled or cooling since the read sends the pick on to round 4.
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
                -- times the tier's largest bound, accepts when below the weight.
                SELECT (array_agg(k.api_key ORDER BY d.position)
                            FILTER (WHERE (d.draw * v_highest - floor(d.draw * v_highest)) * v_largest[v_tier] < k.weight))[1],
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

        -- Many keys available, yet 516 to 532 probes missed (light keys among heavy
        -- unavailable ones): every available key of the tier, exactly by weight, from the
        -- index's numbers and weights as in round 2, and then the chosen key.
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

-- The sticky pick: 036's function but for its probes (1.) and the rendezvous's reads (2.).
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
    v_chosen_number integer;
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
                    FROM (
                        SELECT k.api_key, k.tier, k.weight, k.disabled_at, k.cooldown_until, k.expires_at
                        FROM public.provider_api_keys AS k
                        WHERE k.provider_id = v_provider_id AND k.key_number = v_bucket + 1
                        OFFSET 0  -- the probed key by its number alone, as in the random pick
                    ) AS k
                    WHERE k.tier = v_tier AND k.disabled_at IS NULL AND k.cooldown_until <= now()
                      AND (k.expires_at IS NULL OR k.expires_at > now());
                ELSE
                    -- One probe, the slot by its primary key and then its key by id: a plan
                    -- reaching the key through the range of available keys would read that
                    -- index whole (no provider among the key's conditions), which no statistics
                    -- make cheaper, so this statement needs no OFFSET 0.
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
                    -- random pick: never a scan of the table, whatever the statistics say; and
                    -- k.weight, as there, to read this migration's index.
                    IF v_probe = 1 THEN
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
