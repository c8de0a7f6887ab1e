-- 038_picks_spend_less_on_each_probe.sql
--
-- Two costs the picks paid at every call for nothing they return (100,000 keys, loops of picks
-- inside the server after VACUUM ANALYZE, the least of 15-21 alternated rounds, 2026-12-03):
--
-- 1. The weighted pick's probes through the slots were memoized. Their statements draw from
--    generate_series with a bound the plan cannot see, which the planner takes for 1,000 rows
--    with repeated values, and it put a Memoize node over each probe's class and each probe's
--    slot: a hash table built at every call for probes whose draws never repeat. Every pool
--    whose tier is not direct pays it at every pick (weights far apart, several tiers, a tier
--    serving after tier 1 cooled). Memoize is off for the function now, as PL/pgSQL cannot
--    hint one statement: us a pick, 037 -> 038, one key at 1000 and the rest at 1 79 -> 70,
--    weights 1-1000 Zipf-like 80 -> 68, tiers 1-9 68 -> 61, tier 1 cooling and tier 2 serving
--    121 -> 107; equal weights, whose probes are direct and never memoized, 32.7 -> 32.3.
-- 2. The sticky pick read each probed key in a subquery that OFFSET 0 fenced from its
--    availability conditions (037, 1.: statistics from a storm must not lead a probe through
--    the range of available keys). It reads the key alone now, by number or through its slot,
--    a statement with no condition but a unique index's, and checks the key's state in
--    PL/pgSQL: no subquery node and no conditions to initialize at each probe, and still no
--    plan through that range. The probe statement alone, 4,000 in a loop, 21 alternated
--    rounds: 9.6 -> 7.6 us (least), 15.7 -> 13.1 (median). Weights 1-10 with 30% unusable, a
--    direct tier where a pick runs 3.3 probes on average: about a tenth of the pick, which
--    whole-pick loops on this machine do not resolve (77 -> 88 us least, 124 -> 120 median).
--    Statistics taken while every key of the provider cooled, the keys back without a new
--    ANALYZE (037's cliff): 69 -> 74 us least, 90 -> 82 median with weights 1-10 (direct
--    probes); 35.9 -> 35.2 and 66 -> 66 over tiers 1-9 (probes through the slots).
--
-- What the picks return is unchanged: the sticky pick probes the same keys in the same order
-- and accepts the same ones (every affinity keeps its key), and the weighted pick's statements
-- are the same. Same signatures, privileges and comments; the weighted pick's settings gain
-- enable_memoize = off. Idempotent. No BEGIN/COMMIT (use psql -1).

ALTER FUNCTION public.get_random_api_key(text) SET enable_memoize = off;

-- The sticky pick: 037's function but for its probes (2.).
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
    v_probed_tier integer;
    v_probed_disabled timestamptz;
    v_probed_cooldown timestamptz;
    v_probed_expiry timestamptz;
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
                -- The probed key alone, by its number or through its slot: a lookup of one row by
                -- a unique index, the only plan such a statement has, whatever the statistics
                -- say. Its state is checked here, as 037 checked it in the statement's WHERE
                -- (037 fenced the key's read in a subquery instead: each probe cost an executor
                -- node and the conditions' initialization more, 2. at the top).
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
                    IF ((hashint8extended(v_probe, v_seed # 6148914691236517205) & 2147483647) + 0.5::double precision) / 2147483648.0::double precision * v_bound
                       < v_probed_weight THEN
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
