//! Server-Sent-Events framing of chat-completion chunks.
//!
//! OpenAI's stream wire form (shared/reference/openai-wire.md §4.3) is one `data: <compact JSON>\n\n` event
//! per chunk, ending with `data: [DONE]\n\n`. In a streamed answer almost every chunk is the same JSON
//! except for the delta text and the trailing `obfuscation` padding, so a [`ChunkTemplate`] keeps the
//! fixed bytes before and after the text and only the text is escaped per token.

use std::fmt;

const DATA_PREFIX: &[u8] = b"data: ";
const EVENT_END: &[u8] = b"\n\n";
const OBFUSCATION_KEY: &[u8] = b",\"obfuscation\":";

/// The event that ends a chat or legacy-completions stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// `data: <payload>\n\n`. The payload must not contain a newline (compact JSON never does).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DATA_PREFIX.len() + payload.len() + EVENT_END.len());
    out.extend_from_slice(DATA_PREFIX);
    out.extend_from_slice(payload);
    out.extend_from_slice(EVENT_END);
    out
}

/// What a byte becomes inside a JSON string: 0 = itself, b'u' = `\u00XX`, anything else = `\` + that byte.
/// The escapes are those orjson (the project's JSON library) writes, so native and Python-built chunks
/// are byte-identical: the short forms for \b \t \n \f \r, `\u00xx` (lowercase hex) for the other
/// control characters, `\"` and `\\`; everything else, non-ASCII included, is written as raw UTF-8.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `text` as a JSON string literal, quotes included.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Every byte that needs escaping is ASCII, and UTF-8 continuation bytes are >= 0x80, so scanning
    // bytes never splits a character.
    let mut run_start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPE[byte as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_DIGITS[(byte >> 4) as usize]);
            out.push(HEX_DIGITS[(byte & 0x0f) as usize]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// `text` as a JSON string literal, quotes included.
pub fn json_string(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_json_string(&mut out, text);
    // Only ASCII escapes were added to valid UTF-8 input.
    String::from_utf8(out).expect("escaping keeps UTF-8 valid")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The marker text was not found in the chunk JSON, or found more than once.
    MarkerCount { marker: String, count: usize },
    /// The chunk JSON does not end with the closing brace of its object.
    NotAnObject,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::MarkerCount { marker, count } => {
                write!(f, "the marker {marker:?} must occur exactly once in the chunk JSON, found {count} times")
            }
            TemplateError::NotAnObject => write!(f, "the chunk JSON must be an object ending with '}}'"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// A chunk whose only varying parts are one string value and the optional trailing `obfuscation` field:
/// `head + json_string(text) + tail [+ ,"obfuscation":json_string(obf)] + "}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTemplate {
    head: String,
    tail: String,
}

impl ChunkTemplate {
    /// `tail` excludes the chunk object's closing brace, so that `obfuscation` can be appended as the last key.
    pub fn new(head: &str, tail: &str) -> Self {
        ChunkTemplate { head: head.to_owned(), tail: tail.to_owned() }
    }

    /// Splits a complete compact chunk JSON (without an `obfuscation` key) around the string literal of
    /// `marker`, e.g. a chunk built with content "\u0000TEXT\u0000" by the same code that builds the others.
    pub fn from_chunk_json(chunk_json: &str, marker: &str) -> Result<Self, TemplateError> {
        let literal = json_string(marker);
        let literal = literal.as_str();
        match chunk_json.split_once(literal) {
            Some((head, rest)) if !rest.contains(literal) => {
                let tail = rest.strip_suffix('}').ok_or(TemplateError::NotAnObject)?;
                Ok(ChunkTemplate::new(head, tail))
            }
            _ => Err(TemplateError::MarkerCount {
                marker: marker.to_owned(),
                count: chunk_json.matches(literal).count(),
            }),
        }
    }

    pub fn head(&self) -> &str {
        &self.head
    }

    pub fn tail(&self) -> &str {
        &self.tail
    }

    /// Appends the chunk JSON (not framed) for `text`.
    pub fn write_chunk(&self, out: &mut Vec<u8>, text: &str, obfuscation: Option<&str>) {
        out.extend_from_slice(self.head.as_bytes());
        write_json_string(out, text);
        out.extend_from_slice(self.tail.as_bytes());
        if let Some(padding) = obfuscation {
            out.extend_from_slice(OBFUSCATION_KEY);
            write_json_string(out, padding);
        }
        out.push(b'}');
    }

    /// The chunk JSON for `text`.
    pub fn chunk(&self, text: &str, obfuscation: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.chunk_len_hint(text, obfuscation));
        self.write_chunk(&mut out, text, obfuscation);
        out
    }

    /// The whole SSE event for `text`: `data: <chunk>\n\n`.
    pub fn frame_text(&self, text: &str, obfuscation: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(DATA_PREFIX.len() + self.chunk_len_hint(text, obfuscation) + EVENT_END.len());
        out.extend_from_slice(DATA_PREFIX);
        self.write_chunk(&mut out, text, obfuscation);
        out.extend_from_slice(EVENT_END);
        out
    }

    /// The chunk's exact length when nothing needs escaping (the common case), so that most
    /// chunks are built with one allocation. The 2s are string quotes, the 1 the closing brace.
    fn chunk_len_hint(&self, text: &str, obfuscation: Option<&str>) -> usize {
        let padding = obfuscation.map_or(0, |p| OBFUSCATION_KEY.len() + p.len() + 2);
        self.head.len() + text.len() + 2 + self.tail.len() + padding + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"#;
    const TAIL: &str = r#"},"finish_reason":null}]"#;

    #[test]
    fn frames_payload_as_one_data_event() {
        assert_eq!(frame(b"{}"), b"data: {}\n\n".to_vec());
        assert_eq!(DONE, b"data: [DONE]\n\n");
    }

    #[test]
    fn escapes_like_orjson() {
        assert_eq!(json_string(""), r#""""#);
        assert_eq!(json_string("He said \"hi\"\\"), r#""He said \"hi\"\\""#);
        assert_eq!(json_string("a\nb\tc\r\u{8}\u{c}"), r#""a\nb\tc\r\b\f""#);
        assert_eq!(json_string("\u{0}\u{1f}\u{b}"), r#""\u0000\u001f\u000b""#);
        // DEL, the solidus and non-ASCII stay literal.
        assert_eq!(json_string("\u{7f}/é😀\u{2028}"), "\"\u{7f}/é😀\u{2028}\"");
    }

    #[test]
    fn template_rebuilds_the_chunk_around_the_text() {
        let template = ChunkTemplate::new(HEAD, TAIL);
        let event = template.frame_text(" there\n", Some("aB3"));
        let expected = format!("data: {HEAD}\" there\\n\"{TAIL},\"obfuscation\":\"aB3\"}}\n\n");
        assert_eq!(String::from_utf8(event).unwrap(), expected);
        let plain = template.chunk("x", None);
        assert_eq!(String::from_utf8(plain).unwrap(), format!("{HEAD}\"x\"{TAIL}}}"));
    }

    #[test]
    fn template_from_a_marked_chunk() {
        let full = format!("{HEAD}\"\\u0000MARK\"{TAIL}}}");
        let template = ChunkTemplate::from_chunk_json(&full, "\u{0}MARK").unwrap();
        assert_eq!(template.head(), HEAD);
        assert_eq!(template.tail(), TAIL);
        assert_eq!(
            ChunkTemplate::from_chunk_json(&full, "absent"),
            Err(TemplateError::MarkerCount { marker: "absent".into(), count: 0 })
        );
        let twice = format!("{HEAD}\"m\"{TAIL},\"x\":\"m\"}}");
        assert!(matches!(
            ChunkTemplate::from_chunk_json(&twice, "m"),
            Err(TemplateError::MarkerCount { count: 2, .. })
        ));
        assert_eq!(ChunkTemplate::from_chunk_json("[\"m\"]", "m"), Err(TemplateError::NotAnObject));
    }
}
