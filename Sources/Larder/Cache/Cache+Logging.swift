import Logging

/// What evictions and expiries log, and the eviction hook; called outside every lock.
extension Cache {
    @usableFromInline
    func reportEvictions(_ victims: VictimBuffer<Key, Value>) {
        if let onEvict = hooks.onEvict {
            for index in 0..<victims.count { onEvict(victims.keys[index]) }
        }
        guard let logger, logger.logLevel <= .debug else { return }
        logger.debug("Larder evicted least-recent entries", metadata: ["count": "\(victims.count)"])
        if logger.logLevel <= .trace {
            for index in 0..<victims.count {
                logger.trace("Larder evicted entry", metadata: ["key": "\(victims.keys[index])"])
            }
        }
    }

    @usableFromInline
    func logExpired(_ victims: VictimBuffer<Key, Value>) {
        guard let logger, logger.logLevel <= .debug else { return }
        logger.debug("Larder removed expired entries", metadata: ["count": "\(victims.count)"])
        if logger.logLevel <= .trace {
            for index in 0..<victims.count {
                logger.trace("Larder removed expired entry", metadata: ["key": "\(victims.keys[index])"])
            }
        }
    }

    @usableFromInline
    func logExpired(count: Int, firstKey key: Key) {
        guard let logger, logger.logLevel <= .trace else { return }
        logger.trace("Larder removed expired entry", metadata: ["key": "\(key)"])
    }
}
