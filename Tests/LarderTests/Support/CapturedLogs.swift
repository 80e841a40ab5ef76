import Logging

/// Collects what a logger logs (level and message), so that tests can assert what was
/// reported: damage, evictions, the governor's actions. One per test: nothing is shared.
final class CapturedLogs: Sendable {
    let messages = TestLock<[(Logger.Level, String)]>([])

    var logger: Logger {
        let box = self
        var logger = Logger(label: "larder.test") { _ in CaptureHandler(box: box) }
        logger.logLevel = .trace
        return logger
    }

    func contains(_ level: Logger.Level, _ fragment: String) -> Bool {
        messages.withLock { $0.contains { $0.0 == level && $0.1.contains(fragment) } }
    }

    struct CaptureHandler: LogHandler {
        let box: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            box.messages.withLock { $0.append((event.level, event.message.description)) }
        }
    }
}
