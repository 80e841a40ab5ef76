import Foundation
import Larder

/// The service's settings, from the environment (the smoke test and the load
/// script set them).
struct Settings {
    /// `PORT`: where the HTTP server listens on 127.0.0.1 (default 8080).
    var port = 8080
    /// `CACHE_DIR`: the LMDB tier's directory (default `.cache` in the current one).
    var cacheDirectory = ".cache"
    /// `CACHE=off`: every request goes to the backend (for comparisons).
    var cacheEnabled = true
    /// `BACKEND_DELAY_MS`: each backend fetch's time (default 5).
    var backendDelay = Duration.milliseconds(5)
    /// `DURABILITY`: the LMDB tier's mode, `writeBack` (default, flushed every
    /// second), `groupCommit` or `synchronous`; `memory` runs without the tier.
    var durability: PersistenceConfiguration.Durability? = .writeBack(interval: .seconds(1))

    static func fromEnvironment() throws -> Settings {
        let env = ProcessInfo.processInfo.environment
        var settings = Settings()
        if let port = env["PORT"] {
            guard let value = Int(port), (1...65535).contains(value) else {
                throw SettingsError(message: "PORT is \(port); use a port number in 1...65535")
            }
            settings.port = value
        }
        if let dir = env["CACHE_DIR"], !dir.isEmpty { settings.cacheDirectory = dir }
        if let cache = env["CACHE"] { settings.cacheEnabled = cache != "off" }
        if let delay = env["BACKEND_DELAY_MS"] {
            guard let value = Int(delay), value >= 0 else {
                throw SettingsError(message: "BACKEND_DELAY_MS is \(delay); use a whole number of milliseconds >= 0")
            }
            settings.backendDelay = .milliseconds(value)
        }
        switch env["DURABILITY"] {
        case nil, "writeBack": break
        case "groupCommit": settings.durability = .groupCommit
        case "synchronous": settings.durability = .synchronous
        case "memory": settings.durability = nil
        case let other?:
            throw SettingsError(message: "DURABILITY is \(other); use writeBack, groupCommit, synchronous or memory")
        }
        return settings
    }
}

struct SettingsError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
