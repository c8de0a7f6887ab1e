/// A JSON value small enough to build whole: a command's result fields.
enum JSONValue {
    case string(String)
    case number(Int)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([JSONMember])
    /// JSON text that PostgreSQL wrote (a jsonb column as text), passed on as it is.
    case fromDatabase(String)

    /// A string, or null.
    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    /// A number, or null.
    static func integer(_ value: Int?) -> JSONValue { value.map(JSONValue.number) ?? .null }
}

/// One member of a JSON object: its name and value, in the order written.
struct JSONMember {
    let name: String
    let value: JSONValue

    init(_ name: String, _ value: JSONValue) {
        self.name = name
        self.value = value
    }
}

/// The one writer of JSON text in the tool: every `--json` document goes through it, whole
/// values and streamed listings alike, so escaping and commas are written in one place.
final class JSONWriter {
    private let output: BufferedOutput
    /// Per open array or object: whether it has an element yet (the next one needs a comma).
    private var hasElement: [Bool] = []
    /// A member's name was just written: its value takes no comma.
    private var afterName = false

    init(_ output: BufferedOutput) { self.output = output }

    func beginObject() {
        separate()
        output.write("{")
        hasElement.append(false)
    }

    func endObject() {
        hasElement.removeLast()
        output.write("}")
    }

    func beginArray() {
        separate()
        output.write("[")
        hasElement.append(false)
    }

    func endArray() {
        hasElement.removeLast()
        output.write("]")
    }

    /// The name of the next member of the open object.
    func name(_ name: String) {
        separate()
        writeString(name)
        output.write(":")
        afterName = true
    }

    func member(_ member: JSONMember) {
        name(member.name)
        value(member.value)
    }

    func members(_ members: [JSONMember]) {
        for member in members { self.member(member) }
    }

    func value(_ value: JSONValue) {
        switch value {
        case .string(let text):
            separate()
            writeString(text)
        case .number(let number):
            separate()
            output.write(String(number))
        case .bool(let flag):
            separate()
            output.write(flag ? "true" : "false")
        case .null:
            separate()
            output.write("null")
        case .array(let values):
            beginArray()
            for element in values { self.value(element) }
            endArray()
        case .object(let members):
            beginObject()
            self.members(members)
            endObject()
        case .fromDatabase(let text):
            separate()
            output.write(text)
        }
    }

    /// Ends the document's line.
    func endDocument() { output.write("\n") }

    private func separate() {
        if afterName {
            afterName = false
            return
        }
        guard let last = hasElement.indices.last else { return }
        if hasElement[last] { output.write(",") }
        hasElement[last] = true
    }

    private func writeString(_ text: String) {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        output.write(escaped + "\"")
    }
}
