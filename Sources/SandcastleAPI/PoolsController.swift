import Foundation
import Hummingbird
import NIOCore
import Prometheus
import SessionStore
import Sessions

/// `/v1/pools`: the warm pool per profile (admin only).
struct PoolsController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.get("pools", use: list)
        group.put("pools/{profile}", use: set)
    }

    struct PoolList: Encodable {
        var pools: [WarmPool.Status]
    }

    /// `GET /v1/pools`: every profile with a pool target, with its ready and starting counts.
    @Sendable func list(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.admin)
        let pools = await dependencies.pool?.statuses() ?? []
        return try json(PoolList(pools: pools), context: context)
    }

    /// `PUT /v1/pools/{profile}` `{"image","size","refillPerMinute"}`: sets the profile's pool
    /// (kept across restarts; it overrides the configuration file). `size` 0 disables it.
    @Sendable func set(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.admin)
        let profile = try context.parameters.require("profile")
        guard let pool = dependencies.pool else {
            throw APIError(.serviceUnavailable, "pool_unavailable", "this daemon runs without a warm pool")
        }
        let body = try await request.body.collect(upTo: dependencies.settings.maxBodyBytes)
        let update = try PoolUpdate.decode(Data(body.readableBytesView))
        do {
            let status = try await pool.setTarget(
                PoolTarget(
                    profile: profile, image: update.image, size: update.size,
                    refillPerMinute: update.refillPerMinute ?? PoolUpdate.defaultRefillPerMinute))
            return try json(status, context: context)
        } catch let error as PoolError where error.code == .configuration {
            throw APIError.invalid(error.message)
        }
    }
}

/// The body of `PUT /v1/pools/{profile}`: unknown keys and wrong types are refused.
struct PoolUpdate: Decodable {
    static let defaultRefillPerMinute = 120

    var image: String
    var size: Int
    var refillPerMinute: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case image, size, refillPerMinute
    }

    static func decode(_ data: Data) throws -> PoolUpdate {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw APIError.invalid("the body must be a JSON object {\"image\",\"size\",\"refillPerMinute\"}")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let unknown = object.keys.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else { throw APIError.invalid("unknown field(s): \(unknown.joined(separator: ", "))") }
        do {
            return try JSONDecoder().decode(PoolUpdate.self, from: data)
        } catch {
            throw APIError.invalid("image (string), size (integer) and optional refillPerMinute (integer) expected")
        }
    }
}
