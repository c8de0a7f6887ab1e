import KeyStore

// Where `keyadmin --check` sends each provider's keys. Whoever may update `providers` may point
// an endpoint at a host of their own, and the next check would hand it every key: an endpoint
// that is not the provider's own is worth a look, with the history's word on who set it.
extension Doctor {
    func endpoints() throws -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        let stored = try rows(
            "SELECT provider_name FROM public.providers WHERE endpoint_url IS NOT NULL ORDER BY provider_name",
            step: "reading the endpoints")
        for row in stored {
            let name = try ProviderName(validating: try row.decode("provider_name"))
            let subject = name.rawValue
            let endpoint: ProviderEndpoint
            do {
                guard let found = try store.endpoint(of: name) else { continue }
                endpoint = found
            } catch {
                findings.append(
                    DoctorFinding("endpoints", .fail, subject, error.message, fix: .reviewEndpoint(provider: subject)))
                continue
            }
            let host = endpoint.url.host
            if endpoint.url.rawValue.hasPrefix("http://") {
                findings.append(
                    DoctorFinding(
                        "endpoints", .warn, subject,
                        "--check sends its keys over plain http to \(host) (a stand-in left from a test?)",
                        fix: .reviewEndpoint(provider: subject)))
            } else if let builtIn = ProviderEndpoint.builtIn(for: name), builtIn.url.host != host {
                findings.append(
                    DoctorFinding(
                        "endpoints", .warn, subject,
                        "--check sends its keys to \(host), not to \(builtIn.url.host)",
                        fix: .reviewEndpoint(provider: subject)))
            } else {
                findings.append(DoctorFinding("endpoints", .ok, subject, "--check asks \(endpoint.probeURL)"))
            }
        }
        return findings
    }
}
