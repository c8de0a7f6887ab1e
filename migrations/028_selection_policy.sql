-- 028_selection_policy.sql
--
-- Which key serves: backup tiers, weights, and sticky picks for conversations.
--
-- provider_api_keys.tier (1-9, default 1): get_random_api_key draws only from the lowest tier
-- that has an available key; tier 2 serves when every tier-1 key is disabled, expired or cooling
-- down, and tier 1 serves again as soon as one of its keys is available.
-- provider_api_keys.weight (1-1000, default 1): within that tier, each available key is drawn
-- with probability weight / (sum of the tier's available weights), exactly.
-- get_sticky_api_key(provider, affinity): the same key for the same affinity (a conversation, a
-- user) for as long as that key stays available and its tier stays the best available; across
-- affinities, keys in proportion to weight; a key that becomes unusable moves only its own
-- affinities, and a key added moves about 1/N of them.
--
-- How the picks stay fast without reading the pool: rejection sampling. A probe draws a key
-- number uniformly from 1 to the provider's last_key_number and looks it up in the unique
-- index; it is accepted when that key is available, in the serving tier, and a second uniform
-- draw is below weight / (the tier's largest weight). Accepted keys are then exactly in
-- proportion to weight. The tier's largest weight is kept in providers.max_weights (one per
-- tier), raised by triggers whenever a key gets a larger weight; an upper bound is enough for
-- exactness, and keyadmin lowers it again when it lowers a weight. The sticky pick draws its
-- probes from the affinity instead of random(): jump consistent hashing (Lamping and Veach)
-- maps the probe to a number, so a key added at the end changes about 1/N of the probes.
-- Everything is written inside the two public functions, which call no helper: a role that may
-- execute them needs nothing else.
--
-- Adding the columns rewrites nothing (constant defaults); the constraints are checked without
-- blocking writes (NOT VALID, then VALIDATE); the new index is built once, as 023's was.
-- Idempotent. No BEGIN/COMMIT (use psql -1).

SET LOCAL lock_timeout = '300ms';

ALTER TABLE public.provider_api_keys
    ADD COLUMN IF NOT EXISTS tier smallint NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS weight integer NOT NULL DEFAULT 1;
ALTER TABLE public.providers
    ADD COLUMN IF NOT EXISTS max_weights integer[] NOT NULL DEFAULT '{1,1,1,1,1,1,1,1,1}';

COMMENT ON COLUMN public.provider_api_keys.tier IS
    '1 (primary) to 9: get_random_api_key draws from the lowest tier that has an available key.';
COMMENT ON COLUMN public.provider_api_keys.weight IS
    '1 to 1000: within its tier, a key is drawn in proportion to its weight.';
COMMENT ON COLUMN public.providers.max_weights IS
    'For each tier, at least the largest weight of its keys (kept by triggers): the bound of the weighted picks.';

-- One constraint for both columns: validating it is one scan of the table, not two.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.provider_api_keys'::regclass
                   AND conname = 'provider_api_keys_tier_and_weight_range') THEN
        ALTER TABLE public.provider_api_keys ADD CONSTRAINT provider_api_keys_tier_and_weight_range
            CHECK (tier BETWEEN 1 AND 9 AND weight BETWEEN 1 AND 1000) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.providers'::regclass
                   AND conname = 'providers_max_weights_shape') THEN
        ALTER TABLE public.providers ADD CONSTRAINT providers_max_weights_shape
            CHECK (array_length(max_weights, 1) = 9 AND array_lower(max_weights, 1) = 1) NOT VALID;
    END IF;
END
$$;

ALTER TABLE public.provider_api_keys VALIDATE CONSTRAINT provider_api_keys_tier_and_weight_range;
ALTER TABLE public.providers VALIDATE CONSTRAINT providers_max_weights_shape;

-- Which tier serves: the lowest with an enabled key whose cooldown has ended, one probe per tier.
CREATE INDEX IF NOT EXISTS provider_api_keys_enabled_by_tier
    ON public.provider_api_keys (provider_id, tier, cooldown_until)
    WHERE disabled_at IS NULL;

-- The bound: raised whenever a key gets a weight above its tier's. Row triggers with a WHEN
-- clause: a key added with the default weight (every key of a bulk load, usually) fires nothing,
-- and an AFTER ROW trigger leaves COPY's batched inserts alone.
CREATE OR REPLACE FUNCTION keyadmin.raise_max_weight()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    UPDATE public.providers AS p
    SET max_weights[NEW.tier] = NEW.weight
    WHERE p.id = NEW.provider_id AND p.max_weights[NEW.tier] < NEW.weight;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.raise_max_weight() FROM PUBLIC;

DROP TRIGGER IF EXISTS max_weight_on_insert ON public.provider_api_keys;
CREATE TRIGGER max_weight_on_insert AFTER INSERT ON public.provider_api_keys
    FOR EACH ROW WHEN (NEW.weight > 1)
    EXECUTE FUNCTION keyadmin.raise_max_weight();
DROP TRIGGER IF EXISTS max_weight_on_update ON public.provider_api_keys;
CREATE TRIGGER max_weight_on_update AFTER UPDATE OF weight, tier ON public.provider_api_keys
    FOR EACH ROW WHEN (NEW.weight > 1 AND (NEW.weight > OLD.weight OR NEW.tier <> OLD.tier))
    EXECUTE FUNCTION keyadmin.raise_max_weight();

-- The number range the picks probe: 1 to providers.last_key_number, read with the provider's
-- row instead of two index probes for the lowest and highest number in every call. keyadmin
-- raises last_key_number as it adds keys; these triggers raise it for any other writer (psql,
-- the SQL editor), so that no key lies above it. An upper bound is enough: a probe above the
-- highest key, or into a gap, is a miss, and the pick stays exact.
CREATE OR REPLACE FUNCTION keyadmin.raise_last_key_number()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    UPDATE public.providers AS p
    SET last_key_number = m.highest
    FROM (SELECT n.provider_id, max(n.key_number) AS highest FROM inserted AS n GROUP BY n.provider_id) AS m
    WHERE p.id = m.provider_id AND p.last_key_number < m.highest;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keyadmin.raise_last_key_number_renumbered()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    UPDATE public.providers AS p SET last_key_number = NEW.key_number
    WHERE p.id = NEW.provider_id AND p.last_key_number < NEW.key_number;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION keyadmin.raise_last_key_number(), keyadmin.raise_last_key_number_renumbered() FROM PUBLIC;

DROP TRIGGER IF EXISTS last_key_number_on_insert ON public.provider_api_keys;
CREATE TRIGGER last_key_number_on_insert AFTER INSERT ON public.provider_api_keys
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION keyadmin.raise_last_key_number();
DROP TRIGGER IF EXISTS last_key_number_on_update ON public.provider_api_keys;
CREATE TRIGGER last_key_number_on_update AFTER UPDATE OF key_number, provider_id ON public.provider_api_keys
    FOR EACH ROW WHEN (NEW.key_number > OLD.key_number OR NEW.provider_id <> OLD.provider_id)
    EXECUTE FUNCTION keyadmin.raise_last_key_number_renumbered();

-- Any key above the number a provider records (written before these triggers): one probe of
-- the (provider_id, key_number) index per provider, not a scan of the keys.
UPDATE public.providers AS p
SET last_key_number = m.highest
FROM (
    SELECT q.id, (SELECT max(k.key_number) FROM public.provider_api_keys AS k WHERE k.provider_id = q.id) AS highest
    FROM public.providers AS q
) AS m
WHERE p.id = m.id AND p.last_key_number < m.highest;

-- The bounds start at 1, every key's weight when the column is made; from then on the triggers
-- above keep them, so running this file again has nothing to recompute.

CREATE OR REPLACE FUNCTION public.get_random_api_key(p_provider_name text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer;
    v_highest integer;
    v_tier smallint := 1;
    v_tier_known boolean := false;
    v_key text;
    v_draws double precision[];
    v_accepts double precision[];
    v_draw double precision;
BEGIN
    FOR v_round IN 1..3 LOOP
        -- Drawn into variables first: random() inside the statement would be evaluated again
        -- for every row a scan visits. The first round's four are written out: building the
        -- arrays with a query costs more than the probes.
        IF v_round = 1 THEN
            v_draws := ARRAY[random(), random(), random(), random()];
            v_accepts := ARRAY[random(), random(), random(), random()];
        ELSE
            v_draws := ARRAY(SELECT random() FROM generate_series(1, 28));
            v_accepts := ARRAY(SELECT random() FROM generate_series(1, 28));
        END IF;
        -- One statement: the provider, its number range, and the first probe that lands on an
        -- available key of the serving tier and is accepted for its weight (tier 1 until a
        -- round has missed and the serving tier is known).
        SELECT p.id, p.last_key_number, probe.api_key
        INTO v_provider_id, v_highest, v_key
        FROM public.providers AS p
        LEFT JOIN LATERAL (
            SELECT k.api_key
            FROM unnest(v_draws) WITH ORDINALITY AS d(draw, position)
            JOIN public.provider_api_keys AS k
              ON k.provider_id = p.id
             AND k.key_number = (1 + floor(d.draw * p.last_key_number))::integer
            WHERE k.disabled_at IS NULL
              AND k.cooldown_until <= now()
              AND (k.expires_at IS NULL OR k.expires_at > now())
              AND k.tier = v_tier
              AND v_accepts[d.position] * p.max_weights[v_tier] < k.weight
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
        -- A miss: find which tier serves (once), and draw from it from now on.
        IF NOT v_tier_known THEN
            v_tier := NULL;
            FOR v_candidate IN 1..9 LOOP
                -- ORDER BY ... LIMIT 1 keeps this one probe of the tier index: with EXISTS the
                -- planner may scan the table, expecting an early match among cooling keys.
                PERFORM 1 FROM public.provider_api_keys AS k
                WHERE k.provider_id = v_provider_id AND k.tier = v_candidate AND k.disabled_at IS NULL
                  AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                ORDER BY k.cooldown_until
                LIMIT 1;
                IF FOUND THEN
                    v_tier := v_candidate;
                    EXIT;
                END IF;
            END LOOP;
            v_tier_known := true;
            EXIT WHEN v_tier IS NULL;  -- nothing available: the degrade rule below
        END IF;
    END LOOP;

    -- Few keys available among many numbers: an exact pick by weight among the serving tier's
    -- available keys, read through the partial index.
    IF v_tier IS NOT NULL THEN
        v_draw := random();
        SELECT ranked.api_key INTO v_key
        FROM (
            SELECT k.api_key,
                   sum(k.weight) OVER (ORDER BY k.key_number) AS running,
                   sum(k.weight) OVER () AS total,
                   k.weight
            FROM public.provider_api_keys AS k
            WHERE k.provider_id = v_provider_id
              AND k.tier = v_tier
              AND k.disabled_at IS NULL
              AND k.cooldown_until <= now()
              AND (k.expires_at IS NULL OR k.expires_at > now())
        ) AS ranked
        WHERE v_draw * ranked.total >= ranked.running - ranked.weight
          AND v_draw * ranked.total < ranked.running;
        IF FOUND THEN
            RETURN v_key;
        END IF;
    END IF;

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

CREATE OR REPLACE FUNCTION public.get_sticky_api_key(p_provider_name text, p_affinity text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_provider_id integer;
    v_max_weights integer[];
    v_highest integer;
    v_tier smallint;
    v_tier_known boolean := false;
    v_seed bigint;
    v_number integer;
    v_bucket bigint;
    v_next bigint;
    v_accept double precision;
    v_key record;
BEGIN
    SELECT p.id, p.max_weights, p.last_key_number
    INTO v_provider_id, v_max_weights, v_highest
    FROM public.providers AS p
    WHERE p.provider_name = lower(p_provider_name);
    IF coalesce(v_highest, 0) = 0 THEN
        RETURN NULL;  -- no such provider, or it never had a key
    END IF;
    v_seed := hashtextextended(coalesce(p_affinity, ''), 0);
    -- Probe i lands on a number by jump hashing, and is accepted with a draw of its own; both
    -- come from the affinity, so the same affinity makes the same probes in the same order.
    FOR v_probe IN 1..64 LOOP
        -- Jump consistent hash (Lamping and Veach) of the probe into numbers 1 .. highest, its
        -- steps drawn from hashint8extended: a number added at the end takes about 1/highest of
        -- the probes, and no probe moves between the numbers there were before.
        v_bucket := -1;
        v_next := 0;
        WHILE v_next < v_highest LOOP
            v_bucket := v_next;
            v_next := floor((v_bucket + 1) / (((hashint8extended(v_bucket, hashint8extended(v_probe, v_seed))
                                                & 2147483647) + 1) / 2147483648.0::double precision));
        END LOOP;
        v_number := v_bucket + 1;
        SELECT k.api_key, k.tier, k.weight INTO v_key
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id AND k.key_number = v_number
          AND k.disabled_at IS NULL AND k.cooldown_until <= now()
          AND (k.expires_at IS NULL OR k.expires_at > now());
        CONTINUE WHEN NOT FOUND;
        IF v_key.tier > 1 AND NOT v_tier_known THEN
            v_tier := NULL;
            FOR v_candidate IN 1..9 LOOP
                PERFORM 1 FROM public.provider_api_keys AS k
                WHERE k.provider_id = v_provider_id AND k.tier = v_candidate AND k.disabled_at IS NULL
                  AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
                ORDER BY k.cooldown_until
                LIMIT 1;
                IF FOUND THEN
                    v_tier := v_candidate;
                    EXIT;
                END IF;
            END LOOP;
            v_tier_known := true;
        END IF;
        CONTINUE WHEN v_key.tier > 1 AND v_key.tier <> v_tier;
        v_accept := ((hashint8extended(v_probe, v_seed # 6148914691236517205) & 2147483647) + 0.5) / 2147483648.0;
        IF v_accept * v_max_weights[v_key.tier] < v_key.weight THEN
            RETURN v_key.api_key;
        END IF;
    END LOOP;

    -- 64 misses: few keys available among many numbers. The serving tier's available keys,
    -- ordered by a hash of affinity and key number (rendezvous hashing), weighted: still the
    -- same key for the same affinity, and only a lost key's affinities move.
    IF NOT v_tier_known THEN
        v_tier := NULL;
        FOR v_candidate IN 1..9 LOOP
            PERFORM 1 FROM public.provider_api_keys AS k
            WHERE k.provider_id = v_provider_id AND k.tier = v_candidate AND k.disabled_at IS NULL
              AND k.cooldown_until <= now() AND (k.expires_at IS NULL OR k.expires_at > now())
            ORDER BY k.cooldown_until
            LIMIT 1;
            IF FOUND THEN
                v_tier := v_candidate;
                EXIT;
            END IF;
        END LOOP;
    END IF;
    IF v_tier IS NOT NULL THEN
        SELECT k.api_key, k.tier, k.weight INTO v_key
        FROM public.provider_api_keys AS k
        WHERE k.provider_id = v_provider_id AND k.tier = v_tier
          AND k.disabled_at IS NULL AND k.cooldown_until <= now()
          AND (k.expires_at IS NULL OR k.expires_at > now())
        ORDER BY -ln(((hashint8extended(k.key_number, v_seed) & 2147483647) + 0.5) / 2147483648.0) / k.weight
        LIMIT 1;
        IF FOUND THEN
            RETURN v_key.api_key;
        END IF;
    END IF;

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

-- Security: like the other functions, the service role only.
REVOKE ALL ON FUNCTION public.get_sticky_api_key(text, text) FROM PUBLIC;
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION public.get_sticky_api_key(text, text) FROM %I', v_role);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT EXECUTE ON FUNCTION public.get_sticky_api_key(text, text) TO service_role;
    END IF;
END
$$;

-- Tier and weight changes are events, like every change.
CREATE OR REPLACE FUNCTION keyadmin.record_key_updated()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_actions text[] := '{}';
    v_reasons text[] := '{}';
    v_details jsonb[] := '{}';
    v_provider text;
    v_fingerprint text;
    v_before text;
    v_after text;
BEGIN
    IF NEW.api_key IS DISTINCT FROM OLD.api_key THEN
        v_actions := v_actions || 'key_replaced'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('previous_fingerprint',
            left(encode(sha256(decode(replace(OLD.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12));
    END IF;
    IF OLD.disabled_at IS NULL AND NEW.disabled_at IS NOT NULL THEN
        v_actions := v_actions || CASE WHEN NEW.disabled_automatically THEN 'key_disabled_automatically'
                                       ELSE 'key_disabled' END;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || NULL::jsonb;
    END IF;
    -- A disabled key given a new reason (keyadmin --disable-key again, with --reason).
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NOT NULL
       AND NEW.disabled_reason IS DISTINCT FROM OLD.disabled_reason THEN
        v_actions := v_actions || 'disable_reason_set'::text;
        v_reasons := v_reasons || NEW.disabled_reason;
        v_details := v_details || jsonb_build_object('previous_reason', OLD.disabled_reason);
    END IF;
    IF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'key_enabled'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || NULL::jsonb;
    END IF;
    IF NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        v_actions := v_actions || 'expiry_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('expires_at', NEW.expires_at);
    END IF;
    IF NEW.label IS DISTINCT FROM OLD.label THEN
        v_actions := v_actions || 'label_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('label', NEW.label);
    END IF;
    IF OLD.cooldown_until <= now() AND NEW.cooldown_until > now() AND NEW.disabled_at IS NULL THEN
        v_actions := v_actions || 'cooldown_started'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('until', NEW.cooldown_until, 'http_status', NEW.last_status);
    END IF;
    IF NEW.tier IS DISTINCT FROM OLD.tier THEN
        v_actions := v_actions || 'tier_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('tier', NEW.tier, 'previous_tier', OLD.tier);
    END IF;
    IF NEW.weight IS DISTINCT FROM OLD.weight THEN
        v_actions := v_actions || 'weight_set'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('weight', NEW.weight, 'previous_weight', OLD.weight);
    END IF;
    IF NEW.key_number IS DISTINCT FROM OLD.key_number THEN
        v_actions := v_actions || 'key_renumbered'::text;
        v_reasons := v_reasons || NULL::text;
        v_details := v_details || jsonb_build_object('previous_number', OLD.key_number);
    END IF;

    -- The columns every event of this row shares, computed once (plain expressions, evaluated
    -- without a query); then one INSERT per change (its plan is made once per session).
    v_provider := (SELECT p.provider_name FROM public.providers AS p WHERE p.id = NEW.provider_id);
    v_fingerprint := left(encode(sha256(decode(replace(NEW.api_key, E'\\', E'\\\\'), 'escape')), 'hex'), 12);
    v_before := CASE WHEN OLD.disabled_at IS NOT NULL THEN 'disabled'
                 WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= now() THEN 'expired'
                 WHEN OLD.cooldown_until > now() THEN 'cooling_down'
                 ELSE 'available' END;
    v_after := CASE WHEN NEW.disabled_at IS NOT NULL THEN 'disabled'
                WHEN NEW.expires_at IS NOT NULL AND NEW.expires_at <= now() THEN 'expired'
                WHEN NEW.cooldown_until > now() THEN 'cooling_down'
                ELSE 'available' END;
    FOR i IN 1..coalesce(array_length(v_actions, 1), 0) LOOP
        INSERT INTO keyadmin.key_events
            (action, provider_name, key_number, key_fingerprint, state_before, state_after, reason, detail,
             actor, db_role, application_name, client_address)
        VALUES (v_actions[i], v_provider, NEW.key_number, v_fingerprint, v_before, v_after, v_reasons[i], v_details[i],
                coalesce(nullif(current_setting('keyadmin.actor', true), ''), session_user::text),
                session_user, current_setting('application_name', true), inet_client_addr());
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS key_events_key_updated ON public.provider_api_keys;
CREATE TRIGGER key_events_key_updated AFTER UPDATE ON public.provider_api_keys
    FOR EACH ROW
    WHEN (NEW.api_key IS DISTINCT FROM OLD.api_key
          OR NEW.disabled_at IS DISTINCT FROM OLD.disabled_at
          OR NEW.disabled_reason IS DISTINCT FROM OLD.disabled_reason
          OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
          OR NEW.label IS DISTINCT FROM OLD.label
          OR NEW.key_number IS DISTINCT FROM OLD.key_number
          OR NEW.tier IS DISTINCT FROM OLD.tier
          OR NEW.weight IS DISTINCT FROM OLD.weight
          OR (OLD.cooldown_until <= now() AND NEW.cooldown_until > now()))
    EXECUTE FUNCTION keyadmin.record_key_updated();
