/// Sizes the daemon's warm pool for the warm section: the seam between the benchmark and the
/// daemon's admin pool routes.
public protocol PoolControl: Sendable {
    /// Sets the pool of `profile` and `image` to `size` slots.
    func resize(profile: String, image: String, size: Int) async throws
    /// Returns once `slots` slots of the pool are ready to be claimed; throws after `timeout`.
    func waitUntilReady(profile: String, image: String, slots: Int, timeout: Duration) async throws
    /// Launches so far that found the pool empty and fell back to a cold launch; nil when the
    /// daemon does not say.
    func coldFallbacks() async throws -> Int?
}
