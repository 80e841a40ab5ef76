import Synchronization
@testable import Larder

/// A source that reports whatever the test sets.
final class ScriptedMemorySource: MemorySignalSource, Sendable {
    private let current: TestLock<MemorySample>
    let samples = Atomic<Int>(0)
    init(_ sample: MemorySample) { current = TestLock(sample) }
    func set(_ sample: MemorySample) { current.withLock { $0 = sample } }
    func sample() -> MemorySample {
        samples.add(1, ordering: .relaxed)
        return current.withLock { $0 }
    }
}
