import CLibPQ

extension Connection {
    /// Runs several statements in one round trip (libpq's pipeline mode): all are sent, then
    /// all answers read. The server runs them in order and skips the rest after a failure,
    /// whose error is thrown. Returns each statement's result, in order.
    public func pipeline(_ queries: [Query], step: String) throws -> [QueryResult] {
        try ensureUsable(step: step)
        guard PQenterPipelineMode(handle) == 1 else { throw sendFailure(step: step) }
        defer { PQexitPipelineMode(handle) }
        for query in queries { try sendParameterized(query, step: step) }
        guard PQpipelineSync(handle) == 1 else { throw sendFailure(step: step) }
        var results: [QueryResult] = []
        var failure: Error?
        for _ in queries {
            // Each statement's results end with a NULL from PQgetResult; statements after a
            // failure come back PIPELINE_ABORTED.
            let statementFailure = try drainResults(step: step) { result in
                if result.status != PGRES_PIPELINE_ABORTED { results.append(result) }
            }
            failure = failure ?? statementFailure
        }
        // The sync point closes the pipeline; after it, the connection is idle again.
        guard let sync = try nextResult(step: step), sync.status == PGRES_PIPELINE_SYNC else {
            isBroken = true
            throw PGError(.unexpectedResult, step: step, message: "the pipeline ended without its sync point")
        }
        if let failure { throw failure }
        return results
    }
}
