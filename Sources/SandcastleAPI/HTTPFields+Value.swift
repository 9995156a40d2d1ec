import HTTPTypes

extension HTTPFields {
    /// The value of the fields named `name`, as `self[name]` gives it (several fields of the name
    /// joined with ", "; never used for `Cookie`, which joins with "; "), found in one pass.
    ///
    /// The subscript looks for the name once, then again to join what it found through generic
    /// lazy sequences: about 4,700 instructions a header on a browser's request, read three to
    /// five times for every request on the daemon's hot paths. A field found once is its value,
    /// without a copy.
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if let earlier = found {
                found = earlier + ", " + field.value
            } else {
                found = field.value
            }
        }
        return found
    }
}
