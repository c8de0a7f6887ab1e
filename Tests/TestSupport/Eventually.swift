import Foundation

/// Asks `condition` every 5 ms until it holds, at most 2,000 times (10 s on an idle machine):
/// for a test that waits for a state it can see (another session waiting for a lock, say),
/// never for a length of time. Returns whether the condition held.
public func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<2_000 {
        if try condition() { return true }
        usleep(5_000)
    }
    return false
}
