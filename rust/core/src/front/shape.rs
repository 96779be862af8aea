//! Shapes: the front answers a chat completion with a prompt it has never seen, from the application's answer to
//! another request of the same shape (the application's side: python/sentra_openai/engine/replay_shape.py).
//!
//! Why: a load test with a new prompt in every request never repeats a request, so exact replays (replay.rs) never
//! help it; yet for the simple class of requests the application notes, the answer is a pure function of the
//! prompt that the front can compute itself with the native composer (`crate::textgen`), at a fraction of a
//! worker's cost.
//!
//! With an answer it may also note in `x-sentra-replay-gen` that any request whose bytes equal this one's but for
//! the raw JSON string of the last user message (the hole) is answered by this answer with the note's fills
//! renewed, and with the message content, finish reason, usage and cost computed anew from the new prompt:
//! `hole=START:END;seed=B64;key=B64PRE:B64SUF;enc=NAME;verbosity=WORD;limit=N;budget=N;prompt=BASE:MAXPROMPT;
//! content=START:END;finish=START:END;usage=PS:PE,CS:CE,TS:TE;price=IN:CACHED:OUT;fixtures=B64JSON`.
//! The front answers a matching request itself only when it can do so exactly: a prompt of ASCII and common
//! printable characters (`printable_beyond_ascii`: Python's `repr` writes them as they are) without "```json",
//! that no fixture rule of the note answers, within the prompt limit; any other goes to a worker.
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};

use super::arrival;
use super::replay::{header_value, Fresh, Note, ReplayCounts, Template, Turn};
use crate::cost::{cost_picodollars, format_usd};
use crate::fixtures::{FixtureEntry, FixtureIndex};
use crate::textgen::bpe::Encoding;
use crate::textgen::compose::{generate_answer, truncate_to_tokens, FinishReason};
use crate::textgen::lexicon::Lexicon;
use crate::textgen::pyrandom::PyRandom;

pub const GEN_HEADER: &[u8] = b"x-sentra-replay-gen";
/// Shapes kept at most; beyond, all are dropped (as replay.rs's templates).
const MAX_SHAPES: usize = 256;
const COST_HEADER: &[u8] = b"x-sentra-cost-usd";
const JSON_FENCE: &str = "```json";
/// The longest prompt (its raw JSON string, in bytes) the front composes for; a longer one goes to a worker. Counting
/// it is the composer's one cost that grows with the prompt, on the front's one thread: 16 KiB of the worst text
/// (one long piece for the BPE) takes about 3 ms.
const MAX_HOLE: usize = 16 * 1024;
/// The splices of a shape's template, in the order `render` gives them.
const SPLICES: usize = 7;

/// What the front composes with: the lexicon, and where each encoding's ranks file is (loaded on first use).
pub struct Textgen {
    lexicon: Lexicon,
    /// name -> (uncompressed `.tiktoken` file, tiktoken's pattern).
    encodings: HashMap<String, (PathBuf, String)>,
}

impl fmt::Debug for Textgen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Textgen").field("encodings", &self.encodings).finish_non_exhaustive()
    }
}

impl Textgen {
    /// `lexicon_json`: config/lexicon.yaml as JSON; `encodings`: (name, ranks file, pattern).
    pub fn new(lexicon_json: &str, encodings: Vec<(String, PathBuf, String)>) -> Result<Textgen, String> {
        let lexicon = Lexicon::from_json(lexicon_json).map_err(|e| format!("lexicon: {e}"))?;
        let encodings = encodings.into_iter().map(|(name, path, pattern)| (name, (path, pattern))).collect();
        Ok(Textgen { lexicon, encodings })
    }
}

/// A parsed `x-sentra-replay-gen` value. Offsets: `hole` into the request body, the others into the answer body.
#[derive(Debug, Clone, PartialEq)]
struct GenNote {
    hole: Range<usize>,
    seed: String,
    key_pre: Vec<u8>,
    key_suf: Vec<u8>,
    enc: String,
    verbosity: String,
    limit: usize,
    budget: usize,
    base: usize,
    max_prompt: usize,
    content: Range<usize>,
    finish: Range<usize>,
    usage: [Range<usize>; 3],
    price: [u64; 3],
    fixtures: Vec<FixtureEntry>,
    /// The `fixtures` value as sent: the compiled rules are kept by it (the same for every shape of a model).
    fixtures_key: Vec<u8>,
}

fn integer(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 18 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn pair(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = text.iter().position(|&b| b == b':')?;
    Some((&text[..colon], &text[colon + 1..]))
}

fn range(text: &[u8]) -> Option<Range<usize>> {
    let (start, end) = pair(text)?;
    let (start, end) = (integer(start)? as usize, integer(end)? as usize);
    (start <= end).then_some(start..end)
}

fn word(text: &[u8]) -> Option<String> {
    let ok = !text.is_empty() && text.iter().all(|&b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    ok.then(|| String::from_utf8(text.to_vec()).ok()).flatten()
}

#[derive(serde::Deserialize)]
struct Rule {
    exact: Option<String>,
    regex: Option<String>,
}

fn parse_gen(value: &[u8]) -> Option<GenNote> {
    let mut fields: HashMap<&[u8], &[u8]> = HashMap::new();
    for part in value.split(|&b| b == b';') {
        let part = part.trim_ascii();
        let eq = part.iter().position(|&b| b == b'=')?;
        if fields.insert(&part[..eq], &part[eq + 1..]).is_some() {
            return None;
        }
    }
    let field = |name: &[u8]| fields.get(name).copied();
    let (pre, suf) = pair(field(b"key")?)?;
    let (base, max_prompt) = pair(field(b"prompt")?)?;
    let usage: Vec<Range<usize>> = field(b"usage")?.split(|&b| b == b',').map(range).collect::<Option<_>>()?;
    let price: Vec<u64> = field(b"price")?.split(|&b| b == b':').map(integer).collect::<Option<_>>()?;
    let fixtures_key = field(b"fixtures")?;
    let rules: Vec<Rule> = serde_json::from_slice(&BASE64.decode(fixtures_key).ok()?).ok()?;
    let note = GenNote {
        hole: range(field(b"hole")?)?,
        seed: String::from_utf8(BASE64.decode(field(b"seed")?).ok()?).ok()?,
        key_pre: BASE64.decode(pre).ok()?,
        key_suf: BASE64.decode(suf).ok()?,
        enc: word(field(b"enc")?)?,
        verbosity: word(field(b"verbosity")?)?,
        limit: integer(field(b"limit")?)? as usize,
        budget: integer(field(b"budget")?)? as usize,
        base: integer(base)? as usize,
        max_prompt: integer(max_prompt)? as usize,
        content: range(field(b"content")?)?,
        finish: range(field(b"finish")?)?,
        usage: usage.try_into().ok()?,
        price: price.try_into().ok()?,
        // The worker lists only the rules for the request's model (the model is outside the hole): their model
        // patterns are already applied.
        fixtures: rules
            .into_iter()
            .map(|r| FixtureEntry { priority: 0, exact: r.exact, regex: r.regex, model: None, weight: 1.0 })
            .collect(),
        fixtures_key: fixtures_key.to_vec(),
    };
    (fields.len() == 13 && note.limit >= 1 && note.budget >= 1).then_some(note)
}

/// Characters beyond ASCII that a prompt the front composes for may hold: ranges of long-assigned letters and
/// punctuation (Latin-1 and Latin Extended-A, Greek, Cyrillic, Hebrew, general punctuation, CJK symbols, kana, the
/// unified ideographs of Unicode 1.1, Hangul syllables, fullwidth forms) in which every character is printable for
/// Python (`str.isprintable`, in the Unicode of every supported Python), so `repr` writes each as it is; a prompt
/// with any other (an emoji, a no-break space, a format character) goes to a worker.
fn printable_beyond_ascii(c: char) -> bool {
    matches!(
        u32::from(c),
        0xA1..=0xAC
            | 0xAE..=0x17F
            | 0x391..=0x3A1
            | 0x3A3..=0x3C9
            | 0x400..=0x52F
            | 0x5D0..=0x5EA
            | 0x2010..=0x2027
            | 0x2030..=0x205E
            | 0x3001..=0x303F
            | 0x3041..=0x3096
            | 0x30A1..=0x30FA
            | 0x4E00..=0x9FA5
            | 0xAC00..=0xD7A3
            | 0xFF01..=0xFF5E
    )
}

/// The raw content of a JSON string (between its quotes) as text, if it is one and each of its characters is ASCII
/// or `printable_beyond_ascii`; `None` otherwise (an unescaped quote or control character, a bad escape, a
/// surrogate, invalid UTF-8, or another character, escaped or not).
fn json_string_text(raw: &[u8]) -> Option<String> {
    let raw = std::str::from_utf8(raw).ok()?;
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '"' | '\0'..='\x1f' => return None,
            '\\' => match chars.next()? {
                '"' => '"',
                '\\' => '\\',
                '/' => '/',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)? // a surrogate is no char
                }
                _ => return None,
            },
            c => c,
        };
        if !c.is_ascii() && !printable_beyond_ascii(c) {
            return None;
        }
        text.push(c);
    }
    Some(text)
}

/// Python's `repr` of a str of ASCII and `printable_beyond_ascii` characters (Objects/unicodeobject.c
/// `unicode_repr`): single quotes unless the text has a single quote and no double one; backslash, the quote, tab,
/// newline and carriage return escaped as such, the other unprintable ASCII characters as `\xNN`, and every
/// printable character as it is.
fn py_repr(text: &str, out: &mut Vec<u8>) {
    let quote = if text.contains('\'') && !text.contains('"') { b'"' } else { b'\'' };
    out.push(quote);
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ if b == quote => out.extend_from_slice(&[b'\\', quote]),
            0..0x20 | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b), // ASCII, or a byte of a printable character's UTF-8
        }
    }
    out.push(quote);
}

/// A JSON string's content as orjson writes it: `"` and `\` escaped, `\b\f\n\r\t` short, other controls `\u00XX`,
/// everything else (non-ASCII included) as it is.
fn json_escape(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in text.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => {
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            }
            _ => out.push(b),
        }
    }
}

/// The engine's content key (engine/core.py `Call.content_key`): the seed's prefix, then the hex BLAKE2b-128 of
/// `repr(parts)`, which is `pre + repr(text) + suf`.
fn content_key(seed: &str, pre: &[u8], text: &str, suf: &[u8], scratch: &mut Vec<u8>) -> String {
    scratch.clear();
    scratch.extend_from_slice(pre);
    py_repr(text, scratch);
    scratch.extend_from_slice(suf);
    let digest = Blake2b::<U16>::digest(&scratch[..]);
    let mut key = String::with_capacity(seed.len() + 32);
    key.push_str(seed);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in digest {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 15)]));
    }
    key
}

/// A request as keyed (replay.rs `Ticket`: without its arrival stamp): its head without the content-length value,
/// written into `head_key`, and its body.
fn split_request<'a>(key: &'a [u8], head_key: &mut Vec<u8>) -> Option<&'a [u8]> {
    let end = key.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let length = header_value(&key[..end], b"content-length")?;
    head_key.clear();
    head_key.extend_from_slice(&key[..length.start]);
    head_key.extend_from_slice(&key[length.end..end]);
    Some(&key[end..])
}

/// The text of the JSON string between `prefix` and `suffix` in `body`, if that is all that lies between them and it
/// takes only the characters `json_string_text` takes, at most `MAX_HOLE` bytes as sent.
fn hole_text(body: &[u8], prefix: &[u8], suffix: &[u8]) -> Option<String> {
    let hole = body.len().checked_sub(prefix.len() + suffix.len())?;
    let fits = hole <= MAX_HOLE && body.starts_with(prefix) && body.ends_with(suffix);
    fits.then(|| json_string_text(&body[prefix.len()..body.len() - suffix.len()])).flatten()
}

/// An answer of one shape, its generated parts computed anew for each prompt.
struct Shape {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// The answer, its holes as `Fill::Splice` patches in `SPLICES` order: content-length, cost, content, finish,
    /// prompt, completion and total tokens.
    template: Template,
    /// The template's body length less its holes' (which the content-length counts).
    fixed_body: usize,
    note: GenNote,
    encoding: Arc<Encoding>,
    fixtures: Option<Arc<FixtureIndex>>,
    /// The tag up to its input tokens (`[model, endpoint, status,`) and its cached tokens.
    tag_head: Vec<u8>,
    tag_cached: u64,
}

/// What a prompt gets: its answer's text, completion tokens and finish reason, and its prompt tokens.
struct Composed {
    text: String,
    prompt_tokens: usize,
    completion_tokens: usize,
    finish: &'static str,
}

impl Shape {
    /// The shape of the answer `head` + `body` to the request keyed `key`, if the gen note fits both exactly.
    #[allow(clippy::too_many_arguments)] // the request, the answer, its three notes and what the front loaded
    fn new(
        key: &[u8],
        head: &[u8],
        body: &[u8],
        note: &Note,
        gen: GenNote,
        tag: &[u8],
        encoding: Arc<Encoding>,
        fixtures: Option<Arc<FixtureIndex>>,
        now: Instant,
    ) -> Option<(Vec<u8>, Shape)> {
        let mut head_key = Vec::new();
        let request = split_request(key, &mut head_key)?;
        let hole = gen.hole.clone();
        let quoted =
            hole.start > 0 && request.get(hole.start - 1) == Some(&b'"') && request.get(hole.end) == Some(&b'"');
        if !quoted || json_string_text(&request[hole.clone()]).is_none() {
            return None;
        }
        let (Some(length), Some(cost)) = (header_value(head, b"content-length"), header_value(head, COST_HEADER))
        else {
            return None;
        };
        let in_body = |r: &Range<usize>| body.get(r.clone()).map(|_| head.len() + r.start..head.len() + r.end);
        let finish = body.get(gen.finish.clone())?;
        let digits = gen.usage.iter().all(|r| body.get(r.clone()).and_then(integer).is_some());
        if !(finish == b"stop" || finish == b"length") || !digits || body.get(gen.content.clone()).is_none() {
            return None;
        }
        let holes = [
            length,
            cost,
            in_body(&gen.content)?,
            in_body(&gen.finish)?,
            in_body(&gen.usage[0])?,
            in_body(&gen.usage[1])?,
            in_body(&gen.usage[2])?,
        ];
        let body_holes: usize = holes[2..].iter().map(|r| r.len()).sum();
        let template = Template::new(head, body, note, None, tag, now)?.with_splices(&holes)?;
        let (tag_head, tag_cached) = tag_parts(tag)?;
        let shape = Shape {
            prefix: request[..hole.start].to_vec(),
            suffix: request[hole.end..].to_vec(),
            template,
            fixed_body: body.len() - body_holes,
            note: gen,
            encoding,
            fixtures,
            tag_head,
            tag_cached,
        };
        Some((head_key, shape))
    }

    /// The prompt of a request body of this shape, if it has one.
    fn prompt(&self, body: &[u8]) -> Option<String> {
        hole_text(body, &self.prefix, &self.suffix)
    }

    /// What the engine would answer to `prompt`, as engine/endpoints/chat/generate.py `generate_choice` draws it
    /// for this class (the fixture draw, then the answer, cut at the budget); `None` if the engine would not
    /// answer it with generated text within the prompt limit.
    fn compose(&self, lexicon: &Lexicon, prompt: &str, scratch: &mut Vec<u8>) -> Option<Composed> {
        if prompt.is_empty() || prompt.contains(JSON_FENCE) {
            return None;
        }
        if let Some(index) = &self.fixtures {
            if index.lookup("", prompt, 0.0).ok()?.is_some() {
                return None;
            }
        }
        let n = &self.note;
        let prompt_tokens = n.base + self.encoding.count_ordinary(prompt);
        if prompt_tokens > n.max_prompt {
            return None;
        }
        let key = content_key(&n.seed, &n.key_pre, prompt, &n.key_suf, scratch);
        let mut rng = PyRandom::from_str_seed(&key);
        rng.random(); // the fixture draw, which no rule takes
        let answer = generate_answer(&mut rng, n.limit, &self.encoding, lexicon, prompt, &n.verbosity);
        let mut composed = Composed {
            text: answer.text,
            prompt_tokens,
            completion_tokens: answer.completion_tokens,
            finish: answer.finish_reason.as_str(),
        };
        if composed.completion_tokens > n.budget {
            composed.text = truncate_to_tokens(&self.encoding, &composed.text, n.budget);
            composed.finish = FinishReason::Length.as_str();
            composed.completion_tokens = self.encoding.count_ordinary(&composed.text);
        }
        Some(composed)
    }
}

/// A tag `[model, endpoint, status, input, cached, output, cost]` (engine/replay.py `attach`): the tag up to the
/// input tokens, and the cached tokens.
fn tag_parts(tag: &[u8]) -> Option<(Vec<u8>, u64)> {
    let fields: Vec<serde_json::Value> = serde_json::from_slice(tag).ok()?;
    let [model, endpoint, status, input, cached, output, cost] = &fields[..] else { return None };
    let counts = [status, input, output, cost].iter().all(|v| v.is_u64());
    if !counts || !model.is_string() || !endpoint.is_string() {
        return None;
    }
    let mut head = serde_json::to_vec(&[model, endpoint, status]).ok()?;
    head.pop(); // the `]`
    head.push(b',');
    Some((head, cached.as_u64()?))
}

/// The event loop's shapes, by request head (without its content-length value).
pub(crate) struct Shapes {
    textgen: Option<Arc<Textgen>>,
    /// Encodings by name, loaded on the first shape naming each (`None`: it could not be).
    encodings: HashMap<String, Option<Arc<Encoding>>>,
    /// Compiled fixture rules by the note's `fixtures` value (`None`: no rule); compiling a regex set costs about
    /// 1 ms, and every shape of a model, renewed each second, has the same rules.
    rule_sets: HashMap<Vec<u8>, Option<Arc<FixtureIndex>>>,
    by_head: HashMap<Vec<u8>, Vec<Shape>>,
    count: usize,
    head_key: Vec<u8>,
    scratch: Vec<u8>,
}

impl Shapes {
    pub fn new(textgen: Option<Arc<Textgen>>) -> Shapes {
        Shapes {
            textgen,
            encodings: HashMap::new(),
            rule_sets: HashMap::new(),
            by_head: HashMap::new(),
            count: 0,
            head_key: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn clear(&mut self) {
        self.by_head.clear();
        self.rule_sets.clear();
        self.count = 0;
    }

    /// The compiled rules of a note, `Some(None)` when it has none, `None` if they cannot be compiled.
    fn rules(&mut self, gen: &mut GenNote) -> Option<Option<Arc<FixtureIndex>>> {
        if let Some(compiled) = self.rule_sets.get(&gen.fixtures_key) {
            return Some(compiled.clone());
        }
        let entries = std::mem::take(&mut gen.fixtures);
        let compiled = match entries.is_empty() {
            true => None,
            false => Some(Arc::new(FixtureIndex::new(&entries).ok()?)),
        };
        self.rule_sets.insert(std::mem::take(&mut gen.fixtures_key), compiled.clone());
        Some(compiled)
    }

    fn encoding(&mut self, name: &str) -> Option<Arc<Encoding>> {
        if let Some(loaded) = self.encodings.get(name) {
            return loaded.clone();
        }
        let (path, pattern) = self.textgen.as_ref()?.encodings.get(name)?;
        let loaded = Encoding::from_path(path, pattern).ok().map(Arc::new);
        self.encodings.insert(name.to_owned(), loaded.clone());
        loaded
    }

    /// Keeps the shape a gen note describes (the caller has checked that nothing changed since the request began).
    #[allow(clippy::too_many_arguments)] // the request, the answer and its three notes
    pub fn keep(&mut self, key: &[u8], head: &[u8], body: &[u8], note: &Note, gen: &[u8], tag: &[u8], now: Instant) {
        if self.textgen.is_none() || note.has_store() {
            return;
        }
        let Some(mut gen) = parse_gen(gen) else { return };
        let Some(encoding) = self.encoding(&gen.enc) else { return };
        let Some(rules) = self.rules(&mut gen) else { return };
        let Some((head_key, shape)) = Shape::new(key, head, body, note, gen, tag, encoding, rules, now) else { return };
        let same = |s: &&mut Shape| s.prefix == shape.prefix && s.suffix == shape.suffix;
        if let Some(kept) = self.by_head.get_mut(&head_key).and_then(|shapes| shapes.iter_mut().find(same)) {
            *kept = shape; // renewed
            return;
        }
        if self.count >= MAX_SHAPES {
            self.clear();
        }
        self.count += 1;
        self.by_head.entry(head_key).or_default().push(shape);
    }

    /// Drops the `at`-th shape of the head in `head_key`, and the head once it has none.
    fn forget(&mut self, at: usize) {
        let Some(shapes) = self.by_head.get_mut(&self.head_key[..]) else { return };
        shapes.swap_remove(at);
        self.count -= 1;
        if shapes.is_empty() {
            self.by_head.remove(&self.head_key[..]);
        }
    }

    /// Answers the request keyed `key` into `out` if a live shape fits it and the front can compose its answer,
    /// counting the answer under its own tag; false: forward it.
    pub fn answer(
        &mut self,
        key: &[u8],
        fresh: &mut Fresh,
        arrived: u64,
        now: Instant,
        counts: Option<&ReplayCounts>,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(textgen) = self.textgen.as_ref() else { return false };
        if self.count == 0 {
            return false;
        }
        let Some(body) = split_request(key, &mut self.head_key) else { return false };
        let Some(shapes) = self.by_head.get_mut(&self.head_key[..]) else { return false };
        let Some((at, prompt)) = shapes.iter().enumerate().find_map(|(at, s)| Some((at, s.prompt(body)?))) else {
            return false;
        };
        if shapes[at].template.expired(now) {
            self.forget(at);
            return false;
        }
        let shape = &mut shapes[at];
        let Some(composed) = shape.compose(&textgen.lexicon, &prompt, &mut self.scratch) else { return false };
        if shape.template.turn(now) != Turn::Answer {
            return false; // Renew: this request's answer renews the shape
        }
        let elapsed_ms = arrival::clock_monotonic_nanos().saturating_sub(arrived) / 1_000_000;
        let Some(cost) = render(shape, &composed, fresh, elapsed_ms, &mut self.scratch, out) else {
            self.forget(at);
            return false;
        };
        if let Some(Ok(mut counts)) = counts.map(|counts| counts.lock()) {
            let mut tag = shape.tag_head.clone();
            let (input, output) = (composed.prompt_tokens, composed.completion_tokens);
            tag.extend_from_slice(format!("{input},{},{output},{cost}]", shape.tag_cached).as_bytes());
            *counts.entry((Arc::from(tag), elapsed_ms)).or_insert(0) += 1;
        }
        true
    }
}

/// Renders a shape's answer to a composed prompt into `out`; returns its cost in picodollars.
fn render(
    shape: &Shape,
    composed: &Composed,
    fresh: &mut Fresh,
    elapsed_ms: u64,
    content: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Option<u128> {
    let [input, cached, output] = shape.note.price;
    let (prompt, completion) = (composed.prompt_tokens as u64, composed.completion_tokens as u64);
    let cost = cost_picodollars(prompt, 0, completion, input, cached, output).ok()?;
    content.clear();
    json_escape(&composed.text, content);
    let cost_text = format_usd(cost);
    let (p, c, t) = (prompt.to_string(), completion.to_string(), (prompt + completion).to_string());
    let body_len = shape.fixed_body + content.len() + composed.finish.len() + p.len() + c.len() + t.len();
    let length = body_len.to_string();
    let splices: [&[u8]; SPLICES] = [
        length.as_bytes(),
        cost_text.as_bytes(),
        content,
        composed.finish.as_bytes(),
        p.as_bytes(),
        c.as_bytes(),
        t.as_bytes(),
    ];
    shape.template.spliced(fresh, elapsed_ms, &splices, out).then_some(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hole_is_one_json_string_of_at_most_max_hole_bytes() {
        let (pre, suf) = (&b"{\"content\":\""[..], &b"\"}"[..]);
        let body = |hole: &str| [pre, hole.as_bytes(), suf].concat();
        assert_eq!(hole_text(&body("Hi \\\"you\\\""), pre, suf).as_deref(), Some("Hi \"you\""));
        assert_eq!(hole_text(&body(&"a".repeat(MAX_HOLE)), pre, suf).map(|t| t.len()), Some(MAX_HOLE));
        assert_eq!(hole_text(&body(&"a".repeat(MAX_HOLE + 1)), pre, suf), None, "longer: a worker counts it");
        assert_eq!(hole_text(&body("a\", \"b"), pre, suf), None, "two strings");
        assert_eq!(hole_text(b"{\"content\":\"", pre, suf), None, "shorter than the shape");
        assert_eq!(hole_text(&[b"{\"other\":\"", &b"x"[..], suf].concat(), pre, suf), None, "another prefix");
    }

    #[test]
    fn python_repr_of_prompt_text() {
        let repr = |text: &str| {
            let mut out = Vec::new();
            py_repr(text, &mut out);
            String::from_utf8(out).unwrap()
        };
        // Each expectation is CPython 3.11's repr() of the same str.
        assert_eq!(repr("plain"), "'plain'");
        assert_eq!(repr(""), "''");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr("say \"hi\""), "'say \"hi\"'");
        assert_eq!(repr("a\\b\tc\nd\re"), "'a\\\\b\\tc\\nd\\re'");
        assert_eq!(repr("\u{0}\u{1f}\u{7f}\u{8}\u{c}"), "'\\x00\\x1f\\x7f\\x08\\x0c'");
        assert_eq!(repr("~ !"), "'~ !'");
        assert_eq!(repr("café “quoted” 日本語 ё"), "'café “quoted” 日本語 ё'");
    }

    #[test]
    fn the_characters_beyond_ascii_are_printable_for_python() {
        // CPython 3.11 (Unicode 14): every character of the ranges is printable, the neighbours checked here are not
        // (U+00A0 and U+3000 are spaces, U+00AD and U+200B format characters, U+2028 a line separator).
        for c in [
            '¡', 'é', 'ÿ', 'ſ', 'Ω', 'ж', 'ԯ', 'א', '—', '…', '‰', '。', 'ぁ', 'ヺ', '一', '龥', '가', '힣', '！', '～',
        ] {
            assert!(printable_beyond_ascii(c), "{c}");
        }
        for c in ['\u{a0}', '\u{ad}', '\u{200b}', '\u{2028}', '\u{3000}', '\u{3a2}', '\u{9fa6}', '🙂', '\u{fffd}'] {
            assert!(!printable_beyond_ascii(c), "{:?}", c);
        }
    }

    #[test]
    fn a_json_string_decodes_only_when_valid_and_of_the_characters_taken() {
        let text = |raw: &[u8]| json_string_text(raw);
        assert_eq!(text(b"Hello, world").as_deref(), Some("Hello, world"));
        assert_eq!(text(br#"a\"b\\c\/d\b\f\n\r\t"#).as_deref(), Some("a\"b\\c/d\u{8}\u{c}\n\r\t"));
        assert_eq!(text(br"\u0041\u007f\u0000").as_deref(), Some("A\u{7f}\u{0}"));
        assert_eq!(text(b"").as_deref(), Some(""));
        assert_eq!(text(br"caf\u00e9 \u65e5").as_deref(), Some("café 日"));
        assert_eq!(text("café “x” 日本語".as_bytes()).as_deref(), Some("café “x” 日本語"));
        for bad in [
            &b"a\"b"[..],          // an unescaped quote ends the string
            b"a\nb",               // a raw control character
            b"trailing\\",         // an escape cut short
            b"\\x41",              // no such escape
            b"\\u004",             // too few hex digits
            b"\\u00g1",            // not hex
            b"\\u+041",            // not hex either
            b"\\u00a0",            // escaped, but a no-break space
            b"\\ud83d\\ude00",     // a surrogate pair
            b"\\ud83d",            // a lone surrogate
            "smile 🙂".as_bytes(), // raw UTF-8, an emoji
            b"caf\xc3",            // not UTF-8
            b"\\u00\xc3\xa9",      // not four hex digits
        ] {
            assert_eq!(text(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn content_is_escaped_as_orjson_escapes_it() {
        let mut out = Vec::new();
        json_escape("a\"b\\c\u{8}\u{c}\n\r\t\u{1}\u{1f}/\u{7f}é", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f/\u{7f}é");
    }

    #[test]
    fn the_content_key_is_pythons() {
        // Python: "7:" + hashlib.blake2b(repr(("chat", "gpt-4o", [("messages", "Hello")])).encode(),
        //                                digest_size=16).hexdigest()
        let mut scratch = Vec::new();
        let key = content_key("7:", b"('chat', 'gpt-4o', [('messages', ", "Hello", b")])", &mut scratch);
        assert_eq!(key, PY_KEY);
    }
    const PY_KEY: &str = "7:2138c6f84451d77b977ed2fad27b6201";

    fn gen_value() -> String {
        let b = |s: &[u8]| BASE64.encode(s);
        let rules = b(concat!(
            r#"[{"exact": "Say this is a test", "regex": null, "model": null},"#,
            r#" {"exact": null, "regex": "(?i)weather", "model": "gpt-4o*"}]"#
        )
        .as_bytes());
        format!(
            "hole=10:15;seed={};key={}:{};enc=o200k_base;verbosity=medium;limit=4096;budget=4096;prompt=8:1000;\
             content=1:2;finish=3:4;usage=5:6,7:8,9:10;price=2500000:1250000:10000000;fixtures={rules}",
            b(b"0:"),
            b(b"pre"),
            b(b"suf"),
        )
    }

    #[test]
    fn a_gen_note_parses_into_its_fields() {
        let note = parse_gen(gen_value().as_bytes()).unwrap();
        assert_eq!(note.hole, 10..15);
        assert_eq!((note.seed.as_str(), &note.key_pre[..], &note.key_suf[..]), ("0:", &b"pre"[..], &b"suf"[..]));
        assert_eq!((note.enc.as_str(), note.verbosity.as_str()), ("o200k_base", "medium"));
        assert_eq!((note.limit, note.budget, note.base, note.max_prompt), (4096, 4096, 8, 1000));
        assert_eq!(note.usage, [5..6, 7..8, 9..10]);
        assert_eq!(note.price, [2_500_000, 1_250_000, 10_000_000]);
        assert_eq!(note.fixtures.len(), 2);
        assert_eq!(note.fixtures[1].regex.as_deref(), Some("(?i)weather"));
        assert_eq!(note.fixtures[1].model, None, "the worker sends this model's rules only");
        let good = gen_value();
        for bad in [
            good.replace("hole=10:15", "hole=15:10"),
            good.replace(";limit=4096", ""),
            good.replace("limit=4096", "limit=0"),
            good.replace("usage=5:6,7:8,9:10", "usage=5:6,7:8"),
            good.replace("price=2500000:1250000:10000000", "price=1:2"),
            good.replace("enc=o200k_base", "enc=a/b"),
            good.replace("fixtures=", "fixtures=!!"),
            format!("{good};color=red"),
            format!("{good};limit=5"),
        ] {
            assert_eq!(parse_gen(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn a_tag_splits_at_its_counts() {
        let (head, cached) = tag_parts(br#"["gpt-4o","chat.completions",200,12,0,30,99]"#).unwrap();
        assert_eq!((&head[..], cached), (&br#"["gpt-4o","chat.completions",200,"#[..], 0));
        assert!(tag_parts(br#"["m","e",200,1,0,2]"#).is_none());
        assert!(tag_parts(br#"["m","e",200,1,0,2,-3]"#).is_none());
    }
}
