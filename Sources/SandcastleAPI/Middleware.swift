import AccessControl
import HTTPTypes
import Hummingbird

/// Refuses a body larger than the limit with 413 before reading it, when its length is declared;
/// bodies without a length are cut off at the limit where they are collected. Workspace files and
/// archives stream their bodies to disk under limits of their own.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.uri.path.hasPrefix("/v1/workspaces/") { return try await next(request, context) }
        if let length = request.headers.value(.contentLength).flatMap(Int.init), length > maxBytes {
            throw APIError(.contentTooLarge, "body_too_large", "the body has \(length) bytes; the limit is \(maxBytes)")
        }
        return try await next(request, context)
    }
}

/// Counts requests by method, route template (never the raw path) and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: APIMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            let response = try await next(request, context)
            metrics.requests(request.method.rawValue, context.endpointPath ?? "unmatched", response.status.code)
            return response
        } catch {
            metrics.requests(request.method.rawValue, context.endpointPath ?? "unmatched", APIError.from(error).status.code)
            throw error
        }
    }
}

/// Authenticates the API key (`Authorization: Bearer`) and applies the rate limits, per key and per
/// client address; `429` with `Retry-After` when either bucket is empty.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = SandcastleRequestContext
    let keys: KeyringBox
    let limits: RateLimits
    let metrics: APIMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        let principal = request.headers.value(.authorization).flatMap(parseBearer(authorizationHeader:)).flatMap {
            keys.current.authenticate(presentedKey: $0)
        }
        switch limits.take(apiKeyName: principal?.name, address: context.clientAddress) {
        case .allowed:
            break
        case .limited(let scope, let retryAfter):
            metrics.rejections("rate_limit_\(scope.rawValue)")
            var error = APIError(.tooManyRequests, "rate_limited", "too many requests (\(scope.rawValue) limit); retry after \(retryAfter) s")
            error.headers[.retryAfter] = String(retryAfter)
            throw error
        }
        // The terminal route authenticates with its attach token instead.
        guard let principal else {
            if context.endpointPath?.hasSuffix("/tty") == true { return try await next(request, context) }
            metrics.rejections("unauthenticated")
            throw APIError.unauthenticated
        }
        context.principal = principal
        context.logger[metadataKey: "api.key"] = .string(principal.name)
        return try await next(request, context)
    }
}
