import Foundation

/// Checks real responses against the OpenAPI document the daemon serves: the operation must be
/// documented with that status, and a JSON body must match the status's schema.
///
/// A small JSON Schema checker for the keywords the document uses: `type` (one or several),
/// `required`, `properties`, `additionalProperties`, `items`, `enum`, `minimum`, `maximum`,
/// `pattern` and `$ref` within the document.
struct OpenAPIConformance {
    let document: [String: Any]

    init(documentBytes: Data) throws {
        guard let document = try JSONSerialization.jsonObject(with: documentBytes) as? [String: Any] else {
            throw Failure(message: "the OpenAPI document is not a JSON object")
        }
        self.document = document
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Problems with one exchange; empty when it conforms.
    func check(method: String, path: String, status: Int, contentType: String?, body: Data) -> [String] {
        guard let paths = document["paths"] as? [String: Any] else { return ["the document has no paths"] }
        guard let (template, item) = paths.first(where: { Self.matches(template: $0.key, path: path) }),
            let pathItem = item as? [String: Any]
        else { return ["\(method) \(path): no documented path matches"] }
        guard let operation = pathItem[method.lowercased()] as? [String: Any] else {
            return ["\(method) \(template): the method is not documented"]
        }
        guard let responses = operation["responses"] as? [String: Any], let documented = responses[String(status)] else {
            return ["\(method) \(template): status \(status) is not documented"]
        }
        let response = resolve(documented)
        guard let content = response["content"] as? [String: Any] else {
            return body.isEmpty ? [] : ["\(method) \(template) \(status): a body was sent but none is documented"]
        }
        guard let contentType, let media = content.first(where: { contentType.hasPrefix($0.key) })?.value as? [String: Any]
        else { return ["\(method) \(template) \(status): content type \(contentType ?? "none") is not documented"] }
        guard contentType.hasPrefix("application/json"), let schema = media["schema"] else { return [] }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return ["\(method) \(template) \(status): the body is not JSON"]
        }
        return validate(value, against: schema, at: "\(method) \(template) \(status) body")
    }

    static func matches(template: String, path: String) -> Bool {
        let pathOnly = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        let a = template.split(separator: "/")
        let b = pathOnly.split(separator: "/")
        // A last `{path}` stands for one or more segments (a file path inside a workspace).
        if a.last == "{path}", b.count > a.count { return zip(a.dropLast(), b).allSatisfy { $0.hasPrefix("{") || $0 == $1 } }
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }

    func resolve(_ node: Any) -> [String: Any] {
        guard var object = node as? [String: Any] else { return [:] }
        while let reference = object["$ref"] as? String {
            var target: Any? = document
            for part in reference.dropFirst(2).split(separator: "/") { target = (target as? [String: Any])?[String(part)] }
            object = target as? [String: Any] ?? [:]
        }
        return object
    }

    func validate(_ value: Any, against node: Any, at path: String) -> [String] {
        let schema = resolve(node)
        var problems: [String] = []
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { Self.equal($0, value) }) {
            problems.append("\(path): \(value) is not one of \(allowed)")
        }
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [(type as? String) ?? ""]
            if !types.contains(where: { Self.has(type: $0, value) }) {
                return problems + ["\(path): expected \(types.joined(separator: " or ")), found \(Swift.type(of: value)) \(value)"]
            }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): missing required \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object {
                if let property = properties[key] {
                    problems += validate(child, against: property, at: "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] {
                    if let allowed = additional as? Bool {
                        if !allowed { problems.append("\(path): undocumented property \(key)") }
                    } else {
                        problems += validate(child, against: additional, at: "\(path).\(key)")
                    }
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, element) in array.enumerated() { problems += validate(element, against: items, at: "\(path)[\(index)]") }
        }
        if let number = value as? NSNumber, !(value is Bool) {
            if let minimum = schema["minimum"] as? Double, number.doubleValue < minimum { problems.append("\(path): below \(minimum)") }
            if let maximum = schema["maximum"] as? Double, number.doubleValue > maximum { problems.append("\(path): above \(maximum)") }
        }
        if let text = value as? String, let pattern = schema["pattern"] as? String,
            text.range(of: pattern, options: .regularExpression) == nil
        {
            problems.append("\(path): \(text) does not match \(pattern)")
        }
        return problems
    }

    static func has(type: String, _ value: Any) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "string": return value is String
        case "boolean": return isBool(value)
        case "integer": return !isBool(value) && (value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } == true
        case "number": return !isBool(value) && value is NSNumber
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        default: return true
        }
    }

    static func isBool(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c" || type(of: value) == Bool.self
    }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if let a = a as? String, let b = b as? String { return a == b }
        if let a = a as? NSNumber, let b = b as? NSNumber { return a == b }
        return false
    }
}
