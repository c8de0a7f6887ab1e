import Postgres

// Whether the weighted picks' slots (migration 030) and each tier's largest weight (039) match
// the keys. Triggers keep them for every writer; a data-only restore with triggers disabled, or
// session_replication_role = replica, bypasses them, and the picks would then draw from stale
// slots, or draw a key heavier than its tier's stored largest weight less than its share.
extension Doctor {
    /// The weight class is written out (keyadmin.weight_class's expression): an operator who is
    /// not the owner may not execute keyadmin's functions. The largest weights are read through
    /// to_jsonb, so that a database from before migration 039 is checked too.
    func keySlots() throws -> [DoctorFinding] {
        let providers = try rows(
            """
            SELECT p.provider_name,
                   (SELECT count(*) FROM public.provider_api_keys AS k
                    LEFT JOIN keyadmin.key_slots AS s ON s.key_id = k.id
                    WHERE k.provider_id = p.id
                      AND (s.key_id IS NULL OR s.provider_id <> k.provider_id OR s.tier <> k.tier
                           OR s.weight_class
                              <> width_bucket(k.weight, '{1,2,4,8,16,32,64,128,256,512}'::integer[]) - 1))::integer
                       AS misplaced,
                   (SELECT count(*) FROM keyadmin.key_slots AS s WHERE s.provider_id = p.id)
                       <> (SELECT coalesce(sum(c), 0) FROM unnest(p.slot_counts) AS c) AS stale,
                   coalesce((to_jsonb(p) -> 'largest_weights')
                            <> to_jsonb(ARRAY(SELECT coalesce((SELECT max(k.weight) FROM public.provider_api_keys AS k
                                                               WHERE k.provider_id = p.id AND k.tier = t), 1)
                                              FROM generate_series(1, 9) AS t ORDER BY t)), false) AS stale_weights
            FROM public.providers AS p
            WHERE to_regclass('keyadmin.key_slots') IS NOT NULL
            ORDER BY p.provider_name
            """, step: "reading the key slots")
        var findings: [DoctorFinding] = []
        for row in providers {
            let name: String = try row.decode("provider_name")
            let misplaced: Int = try row.decode("misplaced")
            let stale: Bool = try row.decode("stale")
            let staleWeights: Bool = try row.decode("stale_weights")
            if misplaced > 0 || stale {
                findings.append(
                    DoctorFinding(
                        "key slots", .fail, name,
                        "the weighted picks' slots do not match the keys (\(misplaced) key\(misplaced == 1 ? "" : "s") "
                            + "out of place): a write bypassed the triggers",
                        fix: "SELECT keyadmin.rebuild_key_slots();"))
            } else if staleWeights {
                findings.append(
                    DoctorFinding(
                        "key slots", .fail, name,
                        "a tier's stored largest weight is not its keys' largest: a write bypassed the triggers",
                        fix: "SELECT keyadmin.rebuild_key_slots();"))
            }
        }
        if findings.isEmpty && !providers.isEmpty {
            findings.append(DoctorFinding("key slots", .ok, "providers", "every key in its weight class's slot"))
        }
        return findings
    }
}
