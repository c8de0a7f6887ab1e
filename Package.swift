// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "KeyAdmin",
    products: [
        .executable(name: "keyadmin", targets: ["KeyAdminTool"]),
        // For a Swift backend or tool that draws, reports and manages keys itself.
        .library(name: "KeyStore", targets: ["KeyStore"]),
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
        // A DBA's inspection of a live database: the schema's promises, privileges, logging, pools.
        .target(name: "KeyDoctor", dependencies: ["KeyStore", "Postgres"]),
        // libcurl, loaded with dlopen when a check first needs it: a C shim over the calls the
        // check makes. Its header comes with libcurl4-openssl-dev; the library is not linked.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // `--check`: asks each provider whether each key works, and records the answers.
        .target(name: "KeyCheck", dependencies: ["CCurl", "KeyStore"]),
        // The command line: parse, run one handler, print its result. No SQL here.
        .target(name: "KeyAdmin", dependencies: ["KeyStore", "KeyDoctor", "KeyCheck", "Postgres"]),
        // The `keyadmin` executable: a thin entry point. The Swift and C++ runtimes are linked
        // into it, so the binary needs only libpq and libc; see docs/performance.md for what each
        // flag saves at start-up.
        .executableTarget(
            name: "KeyAdminTool",
            dependencies: ["KeyAdmin"],
            exclude: ["link"],
            linkerSettings: [
                .unsafeFlags(
                    [
                        // The Swift runtime, statically: no toolchain library path needed.
                        "-static-stdlib",
                        // A position-dependent executable: 340 relocations at start instead of 25,000.
                        "-Xclang-linker", "-no-pie",
                        // libstdc++ statically (link/libstdc++.so is a linker script), libgcc too.
                        "-L", Context.packageDirectory + "/Sources/KeyAdminTool/link",
                        "-Xclang-linker", "-static-libgcc",
                    ], .when(platforms: [.linux]))
            ]
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
        // Tests that need neither a server nor a process: `swift test --filter UnitTests` runs
        // them in seconds.
        .testTarget(
            name: "UnitTests", dependencies: ["KeyAdmin", "KeyCheck", "KeyStore", "Postgres", "TestSupport"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "KeyStoreTests", dependencies: ["KeyStore", "Postgres", "TestSupport"]),
        // The library product as a consumer sees it: `import KeyStore`, public API only.
        .testTarget(name: "KeyStoreConsumerTests", dependencies: ["KeyStore", "TestSupport"]),
        .testTarget(
            name: "KeyAdminTests",
            dependencies: ["KeyAdmin", "KeyDoctor", "KeyCheck", "KeyStore", "Postgres", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
