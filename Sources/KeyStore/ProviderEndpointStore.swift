import Postgres

extension KeyStore {
    /// The endpoint set for the provider (migration 029), or `nil` when none is: then `--check`
    /// uses the built-in one for a well-known name. A stored URL is checked as `--set-endpoint`
    /// checks one: psql or the SQL editor may have written one the schema allows and the tool
    /// does not (plain http to another host), and keys must never go there.
    public func endpoint(of name: ProviderName) throws(KeyStoreError) -> ProviderEndpoint? {
        let stored: (url: String, style: String)? = try translatingErrors(provider: name) {
            let result = try connection.query(
                "SELECT endpoint_url, api_style FROM public.providers WHERE provider_name = \(name.rawValue)",
                step: "reading the endpoint of \(name)")
            guard let row = result.rows.first else { throw KeyStoreError.providerNotFound(name) }
            guard let url: String = try row.decodeIfPresent("endpoint_url") else { return nil }
            return (url, try row.decodeIfPresent("api_style") ?? "")
        }
        guard let stored else { return nil }
        do {
            return ProviderEndpoint(
                url: try EndpointURL(validating: stored.url), style: try APIStyle(validating: stored.style))
        } catch {
            throw .notConfigured(
                "the endpoint stored for \(name) is not one keys may be sent to: \(error.message)",
                hint: "set it again with keyadmin --set-endpoint \(name) URL")
        }
    }

    /// Sets where the provider's API is, or forgets it (`nil`: the built-in one again). Returns
    /// whether anything changed; a change is an event in the history.
    public func setEndpoint(_ endpoint: ProviderEndpoint?, for name: ProviderName) throws(KeyStoreError) -> Bool {
        try translatingErrors(provider: name) {
            try connection.withTransaction { transaction in
                let provider = try lockProvider(name, in: transaction)
                let url = endpoint?.url.rawValue
                let style = endpoint?.style.rawValue
                return try transaction.query(
                    """
                    UPDATE public.providers SET endpoint_url = \(url)::text, api_style = \(style)::text
                    WHERE id = \(provider)
                      AND (endpoint_url IS DISTINCT FROM \(url)::text OR api_style IS DISTINCT FROM \(style)::text)
                    """, step: "setting the endpoint of \(name)"
                ).affectedRowCount > 0
            }
        }
    }
}
