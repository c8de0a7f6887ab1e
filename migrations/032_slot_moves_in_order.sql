-- 032_slot_moves_in_order.sql
--
-- The statement trigger that keeps keyadmin.key_slots in step after an UPDATE of tier, weight or
-- provider_id (migration 030) freed the moved keys' slots and appended them again in one
-- expression: `remove_slots(...) || append_slots(...)`. PostgreSQL does not promise which side
-- of an expression is evaluated first, and appending first would collide on key_slots.key_id
-- (unique). The two calls are two statements now, freeing first. Same function, same trigger,
-- same privileges; nothing else changes. Idempotent. No BEGIN/COMMIT (use psql -1).

CREATE OR REPLACE FUNCTION keyadmin.slots_after_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_moved integer[];
    v_providers integer[];
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
        -- Two statements: the keys must leave their old slots before they are appended (their
        -- key_id is unique), and one expression would not promise which call runs first.
        v_providers := keyadmin.remove_slots(v_moved);
        v_providers := v_providers || keyadmin.append_slots(v_moved);
        FOR v_provider_id IN SELECT DISTINCT p FROM unnest(v_providers) AS p ORDER BY 1 LOOP
            PERFORM keyadmin.store_slot_layout(v_provider_id);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
