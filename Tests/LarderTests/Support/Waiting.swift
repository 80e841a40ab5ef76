#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Testing

// Waiting for a condition that other threads or tasks bring about. Every wait has a
// generous wall-clock limit: a guard against hanging the run, never a timing assertion.

/// How long a wait gives its condition before it gives up.
let waitLimit: Duration = .seconds(30)

/// Waits until `condition` holds, yielding the processor between checks;
/// false when it still does not hold after `limit` (a failure guard, not a
/// stand-in for synchronization: the condition is what the test waits for).
func waitUntil(limit: Duration = waitLimit, _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while !condition() {
        if clock.now > end { return false }
        sched_yield()
    }
    return true
}

/// Polls `condition` from async code, yielding between polls; false if it did
/// not hold within `limit` (a guard against hanging, not a speed threshold).
func eventually(limit: Duration = waitLimit, _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while !condition() {
        if clock.now > end { return false }
        await Task.yield()
    }
    return true
}

// MARK: Gates

/// Holds the calling thread at a gate until `isOpen` (for example: until the other
/// callers have arrived). A gate still shut after `limit` fails the test with a recorded
/// issue, then lets the thread go on so that the run ends instead of hanging.
func waitAtGate(_ gate: String = "gate", limit: Duration = waitLimit,
                sourceLocation: SourceLocation = #_sourceLocation, until isOpen: () -> Bool) {
    if !waitUntil(limit: limit, isOpen) { recordShutGate(gate, limit, sourceLocation) }
}

/// Holds the calling task at a gate until `isOpen`, yielding meanwhile; as the
/// synchronous ``waitAtGate(_:limit:sourceLocation:until:)``, a gate still shut after
/// `limit` fails the test.
func waitAtGate(_ gate: String = "gate", limit: Duration = waitLimit,
                sourceLocation: SourceLocation = #_sourceLocation, until isOpen: () -> Bool) async {
    if await !eventually(limit: limit, isOpen) { recordShutGate(gate, limit, sourceLocation) }
}

/// A shut gate's failure, recorded against the current test; on a thread of
/// ``runOnThreads(_:stackSize:_:)`` or a ``TestThread`` (no test there), handed over to be
/// recorded on the test's own thread when it joins.
private func recordShutGate(_ gate: String, _ limit: Duration, _ sourceLocation: SourceLocation) {
    let failure = ShutGate(message: "\(gate) still shut after \(limit): what it waits for never happened",
                           sourceLocation: sourceLocation)
    if let threadGates = ShutGate.onTheseThreads { threadGates.append(failure) } else { failure.record() }
}

/// A gate that timed out.
struct ShutGate: Sendable {
    let message: String
    let sourceLocation: SourceLocation

    func record() { Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation) }

    /// Where the test's own threads report shut gates (bound on those threads only).
    @TaskLocal static var onTheseThreads: LockedList<ShutGate>?
}

/// A one-shot gate that async code waits at until the test opens it (through
/// ``waitAtGate(_:limit:sourceLocation:until:)``: one left shut fails the test).
final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)
    func open() { opened.store(true, ordering: .releasing) }
    var isOpen: Bool { opened.load(ordering: .acquiring) }
    func wait(sourceLocation: SourceLocation = #_sourceLocation) async {
        await waitAtGate("a Gate the test never opened", sourceLocation: sourceLocation) { isOpen }
    }
}
