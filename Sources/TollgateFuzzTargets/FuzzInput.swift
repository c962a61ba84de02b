/// How a target reads its input bytes.
enum FuzzInput {
    /// `Name: value` lines, a blank line, then the raw body: the shape of an HTTP request's
    /// headers and body, so seeds are readable and libFuzzer's mutations land on both parts.
    /// Without a blank line the whole input is the body.
    static func request(_ bytes: ArraySlice<UInt8>) -> (headers: [(name: String, value: String)], body: [UInt8]) {
        let separator: [UInt8] = [0x0A, 0x0A]
        guard let split = firstIndex(of: separator, in: bytes) else { return ([], Array(bytes)) }
        let head = String(decoding: bytes[bytes.startIndex..<split], as: UTF8.self)
        var headers: [(name: String, value: String)] = []
        for line in head.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            headers.append((String(line[..<colon]), String(value)))
        }
        return (headers, Array(bytes[(split + separator.count)...]))
    }

    static func firstIndex(of needle: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var index = bytes.startIndex
        while index + needle.count <= bytes.endIndex {
            if bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
