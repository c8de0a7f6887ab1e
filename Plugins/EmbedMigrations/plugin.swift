import Foundation
import PackagePlugin

/// Turns `migrations/*.sql` into Swift source compiled into the target, so the installed
/// `keyadmin` carries the same SQL that DBAs run with psql: one source of truth, no copy to
/// keep in step, and no need to find the files at run time.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let migrationsDirectory = context.package.directoryURL.appending(path: "migrations")
        let files =
            (try? FileManager.default.contentsOfDirectory(at: migrationsDirectory, includingPropertiesForKeys: nil))
            ?? []
        let migrations = files.filter { $0.pathExtension == "sql" }.sorted {
            $0.lastPathComponent < $1.lastPathComponent
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(migrations.count) migration(s) from migrations/",
                executable: try context.tool(named: "EmbedMigrationsTool").url,
                arguments: [output.path()] + migrations.map { $0.path() },
                inputFiles: migrations,
                outputFiles: [output]
            )
        ]
    }
}
