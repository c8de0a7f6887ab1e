import CLibPQ

extension Connection {
    /// Runs several statements in one round trip (libpq's pipeline mode): all are sent, then
    /// all answers read. The server runs them in order and skips the rest after a failure,
    /// whose error is thrown. Returns each statement's result, in order.
    public func pipeline(_ queries: [Query], step: String) throws -> [QueryResult] {
        try ensureUsable(step: step)
        guard PQenterPipelineMode(handle) == 1 else { throw sendFailure(step: step) }
        defer { PQexitPipelineMode(handle) }
        for query in queries {
            let sent = withOptionalCStringArray(query.parameters) { values in
                PQsendQueryParams(handle, query.sql, Int32(query.parameters.count), nil, values, nil, nil, 0)
            }
            guard sent == 1 else { throw sendFailure(step: step) }
        }
        guard PQpipelineSync(handle) == 1 else { throw sendFailure(step: step) }
        var results: [QueryResult] = []
        var failure: PostgresError?
        for _ in queries {
            // Each statement's results end with a NULL from PQgetResult.
            while let result = try nextResult(step: step) {
                if result.status == PGRES_PIPELINE_ABORTED { continue }
                if let error = error(in: result, step: step) {
                    failure = failure ?? error
                } else {
                    results.append(result)
                }
            }
        }
        // The sync point closes the pipeline; after it, the connection is idle again.
        guard let sync = try nextResult(step: step), sync.status == PGRES_PIPELINE_SYNC else {
            isBroken = true
            throw PostgresError(.unexpectedResult, step: step, message: "the pipeline ended without its sync point")
        }
        if let failure { throw failure }
        return results
    }
}
