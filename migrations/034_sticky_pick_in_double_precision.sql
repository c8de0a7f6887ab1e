-- 034_sticky_pick_in_double_precision.sql
--
-- get_sticky_api_key (migration 030) computed its rendezvous scores, -ln(u) / weight, with u a
-- NUMERIC: `(h + 0.5) / 2147483648.0` is numeric arithmetic in PostgreSQL, and ln() of a numeric
-- is slow: 100,000 of them took 492 ms, against 85 ms in double precision (hashing and
-- generate_series included). The pick takes one such logarithm per weight class per probe, and
-- one per available key when it falls back to the rendezvous over a tier's available keys: with
-- 100 keys available of 100,000, 100 logarithms a call. The same function in double precision
-- (the scores, the acceptance by weight and the fallback's sample limit): the sticky pick with 100
-- keys available ran 1.6-2.1x the calls per second, with Zipf-like weights 1.1-1.6x (pgbench, 1
-- and 8 clients, two runs each, 2026-12-03). And the tier's weight classes are listed by a loop
-- over the provider's array, only where the tier's weights differ, instead of a query per tier
-- per call that the direct probe of equal weights never reads: 2-16% more calls per second with
-- equal weights, 4-8% with weights 1-10 (eight clients, four runs each).
--
-- No affinity moves. u = (h + 0.5) / 2^31 with h < 2^31 is exact in double precision, and so is
-- u times a weight bound (below 2^42); only the logarithm is rounded, to 1 part in 10^16, so two
-- scores compare differently only on a near-tie that 31-bit hashes do not produce (the same key
-- for each of 5,000 affinities before and after, with Zipf-like weights and with 100 keys
-- available; a test checks it across this migration). Same signature, settings and privileges;
-- nothing else changes. Idempotent. No BEGIN/COMMIT (use psql -1).

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
        FOR v_round IN 1..4 LOOP
            IF v_round IN (2, 4) THEN
                CONTINUE WHEN v_round = 2 AND v_hits > 0;
                SELECT c.available, CASE WHEN c.available <= v_limit OR v_round = 4 THEN c.api_key END
                INTO v_available, v_chosen
                FROM (
                    SELECT a.api_key, a.score, count(*) OVER () AS available
                    FROM (
                        SELECT k.api_key,
                               -ln(((hashint8extended(k.key_number, v_seed) & 2147483647) + 0.5::double precision) / 2147483648.0::double precision) / k.weight
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
                IF ((hashint8extended(v_probe, v_seed # 6148914691236517205) & 2147483647) + 0.5::double precision) / 2147483648.0::double precision * v_bound
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

