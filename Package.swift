// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "KeyAdmin",
    products: [
        .executable(name: "keyadmin", targets: ["KeyAdmin"])
    ],
    // No package dependencies: the command line is parsed by a small table (see
    // Sources/KeyAdmin/Invocation.swift), which keeps start-up and CI builds short.
    dependencies: [],
    targets: [
        // libpq, the PostgreSQL C client, found by pkg-config.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // The only code that touches libpq: connections, parameterized queries, results, errors, transactions.
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        // Providers and keys: the SQL the product runs, the migrator, where the database is found.
        .target(
            name: "KeyStore",
            dependencies: ["Postgres"],
            plugins: ["EmbedMigrations"]
        ),
        // The command line: parse, call the store, print.
        .executableTarget(
            name: "KeyAdmin",
            dependencies: ["KeyStore"]
        ),
        // Builds migrations/*.sql into the binary, so the installed tool works from any directory.
        .executableTarget(name: "EmbedMigrationsTool"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedMigrationsTool"]
        ),
        // Per-test databases on the server scripts/test.sh starts, and a runner for the built binary.
        .target(name: "TestSupport", dependencies: ["KeyStore", "Postgres"], path: "Tests/TestSupport"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "KeyStoreTests", dependencies: ["KeyStore", "Postgres", "TestSupport"]),
        .testTarget(name: "KeyAdminTests", dependencies: ["KeyAdmin", "KeyStore", "Postgres", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
