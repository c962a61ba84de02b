/// Splits a SQL script into statements at top-level semicolons.
///
/// PostgresNIO speaks only the extended query protocol, which runs one statement per call, so a
/// migration file is run statement by statement. Semicolons inside quotes ('...', "..."),
/// dollar quotes ($$...$$, $tag$...$tag$) and comments do not split.
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let text = String(current).trimmingSQLWhitespace()
            if !text.isEmpty && !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }

        while index < chars.count {
            let c = chars[index]
            let next = index + 1 < chars.count ? chars[index + 1] : nil
            switch c {
            case "'", "\"":
                let end = scanQuoted(chars, from: index, quote: c)
                current.append(contentsOf: chars[index..<end])
                index = end
            case "-" where next == "-":
                let end = chars[index...].firstIndex(of: "\n") ?? chars.count
                current.append(contentsOf: chars[index..<end])
                index = end
            case "/" where next == "*":
                let end = scanBlockComment(chars, from: index)
                current.append(contentsOf: chars[index..<end])
                index = end
            case "$":
                if let tagEnd = dollarTagEnd(chars, from: index) {
                    let tag = Array(chars[index...tagEnd])
                    let bodyStart = tagEnd + 1
                    let close = find(tag, in: chars, from: bodyStart) ?? chars.count
                    let end = min(chars.count, close + tag.count)
                    current.append(contentsOf: chars[index..<end])
                    index = end
                } else {
                    current.append(c)
                    index += 1
                }
            case ";":
                flush()
                index += 1
            default:
                current.append(c)
                index += 1
            }
        }
        flush()
        return statements
    }

    private static func scanQuoted(_ chars: [Unicode.Scalar], from start: Int, quote: Unicode.Scalar) -> Int {
        var index = start + 1
        while index < chars.count {
            if chars[index] == quote {
                // A doubled quote is an escaped quote, not the end.
                if index + 1 < chars.count, chars[index + 1] == quote { index += 2; continue }
                return index + 1
            }
            index += 1
        }
        return chars.count
    }

    private static func scanBlockComment(_ chars: [Unicode.Scalar], from start: Int) -> Int {
        var index = start + 2
        while index + 1 < chars.count {
            if chars[index] == "*", chars[index + 1] == "/" { return index + 2 }
            index += 1
        }
        return chars.count
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `start`, if it is one.
    private static func dollarTagEnd(_ chars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start + 1
        while index < chars.count {
            let c = chars[index]
            if c == "$" { return index }
            let isTagCharacter = c == "_" || (c.properties.isAlphabetic) || (index > start + 1 && ("0"..."9").contains(c))
            guard isTagCharacter else { return nil }
            index += 1
        }
        return nil
    }

    private static func find(_ needle: [Unicode.Scalar], in haystack: [Unicode.Scalar], from start: Int) -> Int? {
        guard needle.count <= haystack.count, start <= haystack.count - needle.count else { return nil }
        for index in start...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingSQLWhitespace().hasPrefix("--") || $0.trimmingSQLWhitespace().isEmpty }
    }
}

extension StringProtocol {
    func trimmingSQLWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
