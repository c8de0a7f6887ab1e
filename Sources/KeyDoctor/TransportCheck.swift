import KeyStore
import Postgres

// How the session reaches the server: TLS, and whether the certificate is verified.
extension Doctor {
    func transport() -> [DoctorFinding] {
        let security = connection.transportSecurity
        let serverSaysTLS =
            (try? rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", step: "reading pg_stat_ssl")
                .first?.decode("ssl", as: Bool.self)) ?? security.tls
        let target = store.target
        if security.local {
            return [
                DoctorFinding(
                    "connection", .ok, target,
                    serverSaysTLS ? "TLS in use (server on this machine)" : "server on this machine; no TLS needed")
            ]
        }
        if !serverSaysTLS {
            return [
                DoctorFinding(
                    "connection", .fail, target,
                    "this session is not encrypted: the password and every key cross the network in clear",
                    fix: .advice("add sslmode=verify-full (and sslrootcert=...) to the connection string"))
            ]
        }
        if security.sslMode != "verify-full" {
            return [
                DoctorFinding(
                    "connection", .warn, target,
                    "TLS in use, but the server's certificate is not verified (sslmode=\(security.sslMode))",
                    fix: .advice("add sslmode=verify-full&sslrootcert=/path/to/ca.crt to the connection string"))
            ]
        }
        return [
            DoctorFinding("connection", .ok, target, "TLS in use, server certificate verified (sslmode=verify-full)")
        ]
    }
}
