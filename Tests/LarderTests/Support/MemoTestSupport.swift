#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(index)` on `count` new OS threads at once and joins them all.
///
/// Real threads, not a pool: the memoization tests block callers inside a
/// computation, which would starve a pool with fewer workers than callers.
func memoRunOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Start {
        let index: Int
        let body: @Sendable (Int) -> Void
        init(index: Int, body: @escaping @Sendable (Int) -> Void) {
            self.index = index
            self.body = body
        }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let start = Unmanaged.passRetained(Start(index: index, body: body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.body(start.index)
            return nil
        }, start)
        precondition(status == 0, "pthread_create failed: \(status)")
        threads.append(thread)
    }
    for thread in threads {
        pthread_join(thread, nil)
    }
}

/// How many turns a gate gives other callers before it opens anyway: a last
/// resort against hanging the run if the gate's condition never comes true;
/// the tests' conditions come true long before, working or broken.
let memoGateTurns = 20_000

/// Holds a computation until `isOpen` (other callers have arrived), yielding
/// the thread meanwhile.
func memoGate(_ isOpen: () -> Bool) {
    var turns = 0
    while !isOpen() && turns < memoGateTurns {
        sched_yield()
        turns += 1
    }
}

/// Holds an async computation until `isOpen`, yielding the task meanwhile.
func memoGate(_ isOpen: () -> Bool) async {
    var turns = 0
    while !isOpen() && turns < memoGateTurns {
        await Task.yield()
        turns += 1
    }
}
