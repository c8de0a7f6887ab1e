import KeyStore
import Postgres

// Whether every migration this keyadmin ships is applied, unchanged.
extension Doctor {
    func schema() throws -> [DoctorFinding] {
        do {
            let outcome = try Migrator(connection: connection).run(dryRun: true)
            if outcome.applied.isEmpty {
                return [
                    DoctorFinding(
                        "schema", .ok, "keyadmin.schema_migrations",
                        "all \(outcome.alreadyApplied.count) migrations applied, none changed since")
                ]
            }
            return [
                DoctorFinding(
                    "schema", .fail, "keyadmin.schema_migrations",
                    "not applied: \(outcome.applied.map(\.fileName).joined(separator: ", "))", fix: .applyMigrations
                )
            ]
        } catch .migrationDrift(let fileName) {
            return [
                DoctorFinding(
                    "schema", .fail, fileName, "changed since it was applied",
                    fix: .advice("restore the file as applied; put changes in a new migration"))
            ]
        } catch .unknownMigrationsApplied(let versions) {
            return [
                DoctorFinding(
                    "schema", .warn, "keyadmin.schema_migrations",
                    "applied by a newer keyadmin: \(versions.joined(separator: ", "))", fix: .upgradeTool)
            ]
        } catch {
            throw error
        }
    }
}
