import Foundation
import TestSupport
import Testing

/// Tests/Fixtures/stand_in_models_api.py, started for one test: a provider's model list on
/// 127.0.0.1 (and a second listener on 127.0.0.2, where a redirect points), answering by key.
final class StandInModelsAPI {
    static let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/stand_in_models_api.py").path

    let work: URL
    let port: Int
    private let process = Process()

    /// `answers`: key → behaviour (see the script); TLS with a certificate from a fresh test
    /// CA when `tls` (its file is `caFile`).
    init(
        answers: [String: String], defaultAnswer: String = "200", latencyMilliseconds: Int = 0, tls: Bool = false
    )
        throws
    {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("stand-in-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var config: [String: Any] = [
            "answers": answers, "default_answer": defaultAnswer, "latency_ms": latencyMilliseconds,
            "log": work.appendingPathComponent("log").path, "port_file": work.appendingPathComponent("port").path,
        ]
        if tls {
            try Self.makeCertificates(in: work)
            config["cert"] = work.appendingPathComponent("server.pem").path
            config["key"] = work.appendingPathComponent("server.key").path
        }
        let configFile = work.appendingPathComponent("config.json")
        try JSONSerialization.data(withJSONObject: config).write(to: configFile)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, configFile.path]
        // Never the runner's stdout: `swift test` waits for every holder of it to exit.
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var found: Int?
        for _ in 0..<1000 where found == nil {
            found = (try? String(contentsOfFile: work.appendingPathComponent("port").path, encoding: .utf8))
                .flatMap { Int($0) }
            if found == nil { usleep(10_000) }
        }
        guard let found else { throw StandInError.didNotStart }
        port = found
    }

    deinit {
        // SIGKILL: a test runner may leave SIGTERM ignored, and children inherit that.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: work)
    }

    enum StandInError: Error { case didNotStart }

    var caFile: String { work.appendingPathComponent("ca.pem").path }

    func baseURL(scheme: String = "http") -> String { "\(scheme)://127.0.0.1:\(port)/v1" }

    /// Every request it has seen: listener, method, path, headers (names in lower case).
    struct Request: Decodable {
        let listener: String
        let method: String
        let path: String
        let headers: [String: String]
        /// Requests the stand-in was answering when this one came, this one included.
        let inFlight: Int

        enum CodingKeys: String, CodingKey {
            case listener, method, path, headers
            case inFlight = "in_flight"
        }

        var key: String? {
            if let bearer = headers["authorization"], bearer.hasPrefix("Bearer ") { return String(bearer.dropFirst(7)) }
            return headers["x-api-key"] ?? headers["x-goog-api-key"]
        }
    }

    var requests: [Request] {
        let text = (try? String(contentsOfFile: work.appendingPathComponent("log").path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// A CA and a server certificate for 127.0.0.1 it signed, with openssl.
    private static func makeCertificates(in directory: URL) throws {
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        let extensions = path("san.cnf")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        let steps = [
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=keyadmin test CA",
            ],
            [
                "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                path("server.key"), "-out", path("server.csr"), "-subj", "/CN=127.0.0.1",
            ],
            [
                "openssl", "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("server.pem"), "-days", "2", "-extfile", extensions,
            ],
        ]
        for step in steps {
            let run = try runTool(step)
            guard run.status == 0 else { throw StandInError.didNotStart }
        }
    }
}
