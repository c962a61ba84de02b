extension String {
    /// The text cut to `limit` characters without NULs or other control characters but tab and
    /// newline: text from outside (a game backend's answer or reason) as Postgres stores it (it
    /// refuses NUL in text and jsonb).
    public func storable(limit: Int) -> String {
        String(String.UnicodeScalarView(unicodeScalars.lazy.filter { $0 == "\n" || $0 == "\t" || !($0.properties.generalCategory == .control) }.prefix(limit)))
    }
}
