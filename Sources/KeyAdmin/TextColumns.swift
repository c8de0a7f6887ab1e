/// `text` padded with spaces to `width`, on the right, or on the left when `alignRight`
/// (numbers). Widths in Unicode scalars: keys are ASCII and the mask's "…" is one scalar, and
/// counting grapheme clusters for every row of a long listing costs more than the rest of it.
func padded(_ text: String, to width: Int, alignRight: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.unicodeScalars.count))
    return alignRight ? padding + text : text + padding
}
