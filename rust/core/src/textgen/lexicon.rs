//! config/lexicon.yaml's word lists, templates and knobs, and the filling of one template: a port of
//! `python/sentra_openai/engine/content/lexicon.py` (the reference; `tests/native/test_native_textgen.py` holds the
//! two to the same output).
//!
//! The lexicon arrives as JSON (Python's `orjson.dumps(lexicon())`), so both sides read the same values. Every
//! template of `openers`, `sentences` and `closers` is compiled once here, into its literal text and, per slot, the
//! word list it draws from; a slot draws one `rng.choice` of its list, in the template's order, as Python does.
//!
//! Character classes follow Python's `re` on `str` patterns: `\w` is a letter or number (general category L or N) or
//! `_`. The non-ASCII part of that test uses the `regex` crate's Unicode tables, whose Unicode version may be newer
//! than the Python's (3.11: Unicode 14); only characters assigned since then could be classed differently. The prose
//! generator's sentences are ASCII (lexicon words, and topics that are ASCII words), so it never depends on them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::pyrandom::PyRandom;

/// Why a lexicon JSON could not be used: the path of the offending key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconError(String);

impl fmt::Display for LexiconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lexicon: {}", self.0)
    }
}

impl std::error::Error for LexiconError {}

fn err<T>(message: impl Into<String>) -> Result<T, LexiconError> {
    Err(LexiconError(message.into()))
}

/// `answer_length`: the lognormal answer length and its thresholds.
#[derive(Debug, Clone)]
pub struct AnswerLength {
    pub median_tokens: f64,
    pub sigma: f64,
    pub min_tokens: i64,
    pub max_tokens: f64,
    pub short_reply_max_tokens: f64,
    pub paragraph_min_tokens: f64,
    /// `verbosity_factors`, looked up by name; an unknown verbosity scales by 1 (Python's `.get(verbosity, 1)`).
    pub verbosity_factors: HashMap<String, f64>,
}

/// `composition`: how an answer is put together from the templates.
#[derive(Debug, Clone)]
pub struct Composition {
    pub paragraph_sentences: (i64, i64),
    pub opener_chance: f64,
    pub closer_chance: f64,
    pub closer_after_tokens: f64,
    pub closer_within_tokens: f64,
}

/// Where a slot's word comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `{topic}`: the call's topics, or the lexicon's `topics` when there are none.
    Topic,
    /// Any other slot: an index into [`Lexicon::slot_words`].
    Words(usize),
}

/// One template, split at its slots: `head`, then per slot its words and the literal text after it.
#[derive(Debug, Clone)]
pub struct Template {
    head: String,
    slots: Vec<(Slot, String)>,
    /// Whether the template starts capitalised (otherwise the filled sentence's first character is upper-cased).
    capitalized: bool,
}

/// The lexicon, as textgen.py and lexicon.py read it; keys they do not read are ignored.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub answer_length: AnswerLength,
    pub composition: Composition,
    pub short_replies: Vec<String>,
    pub openers: Vec<Template>,
    pub sentences: Vec<Template>,
    pub closers: Vec<Template>,
    topics: Vec<String>,
    /// The word lists of the slot names in `slot_index`, as lexicon.py's `_slot_words`.
    slot_words: Vec<Vec<String>>,
    slot_index: HashMap<String, usize>,
    article_a_words: HashSet<String>,
    article_an_words: HashSet<String>,
    stopwords: HashSet<String>,
}

impl Lexicon {
    /// The lexicon from `orjson.dumps(lexicon())`. Fails on a missing key, a value of the wrong shape, an empty word
    /// list, or a template slot with no word list (where Python would fail on first use).
    pub fn from_json(json: &str) -> Result<Self, LexiconError> {
        let root: Value = serde_json::from_str(json).map_err(|e| LexiconError(format!("invalid JSON: {e}")))?;
        let root = object(&root, "the top level")?;
        let length = object(get(root, "answer_length", "")?, "answer_length")?;
        let factors = object(get(length, "verbosity_factors", "answer_length.")?, "answer_length.verbosity_factors")?;
        let mut verbosity_factors = HashMap::new();
        for (name, factor) in factors {
            verbosity_factors.insert(name.clone(), float(factor, &format!("answer_length.verbosity_factors.{name}"))?);
        }
        let answer_length = AnswerLength {
            median_tokens: float_key(length, "median_tokens", "answer_length.")?,
            sigma: float_key(length, "sigma", "answer_length.")?,
            min_tokens: int(get(length, "min_tokens", "answer_length.")?, "answer_length.min_tokens")?,
            max_tokens: float_key(length, "max_tokens", "answer_length.")?,
            short_reply_max_tokens: float_key(length, "short_reply_max_tokens", "answer_length.")?,
            paragraph_min_tokens: float_key(length, "paragraph_min_tokens", "answer_length.")?,
            verbosity_factors,
        };
        let knobs = object(get(root, "composition", "")?, "composition")?;
        let bounds = array(get(knobs, "paragraph_sentences", "composition.")?, "composition.paragraph_sentences")?;
        if bounds.len() != 2 {
            return err("composition.paragraph_sentences: expected [min, max]");
        }
        let (sentences_min, sentences_max) =
            (int(&bounds[0], "composition.paragraph_sentences")?, int(&bounds[1], "composition.paragraph_sentences")?);
        if sentences_min > sentences_max {
            return err("composition.paragraph_sentences: min is above max");
        }
        let composition = Composition {
            paragraph_sentences: (sentences_min, sentences_max),
            opener_chance: float_key(knobs, "opener_chance", "composition.")?,
            closer_chance: float_key(knobs, "closer_chance", "composition.")?,
            closer_after_tokens: float_key(knobs, "closer_after_tokens", "composition.")?,
            closer_within_tokens: float_key(knobs, "closer_within_tokens", "composition.")?,
        };
        let numbers = array(get(knobs, "numbers", "composition.")?, "composition.numbers")?
            .iter()
            .map(|number| python_str(number, "composition.numbers"))
            .collect::<Result<Vec<_>, _>>()?;

        let mut slot_words = Vec::new();
        let mut slot_index = HashMap::new();
        let mut add = |name: &str, words: Vec<String>| -> Result<(), LexiconError> {
            if words.is_empty() {
                return err(format!("the word list of {{{name}}} is empty"));
            }
            slot_index.insert(name.to_string(), slot_words.len());
            slot_words.push(words);
            Ok(())
        };
        let topics = strings(root, "topics")?;
        add("topic", topics.clone())?;
        add("number", numbers)?;
        add("adj", strings(root, "adjectives")?)?;
        add("adv", strings(root, "adverbs")?)?;
        add("degree", strings(root, "degree_adverbs")?)?;
        add("connector", strings(root, "connectors")?)?;
        for (key, names) in [("nouns", &["noun", "nouns"][..]), ("verbs", &["verb", "verb_s", "verb_ing"][..])] {
            let entries = array(get(root, key, "")?, key)?
                .iter()
                .map(|entry| array(entry, key)?.iter().map(|form| string(form, key)).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()?;
            for (index, name) in names.iter().enumerate() {
                let forms = entries.iter().map(|forms| forms.get(index).cloned());
                let forms = forms.collect::<Option<Vec<_>>>();
                match forms {
                    Some(forms) => add(name, forms)?,
                    None => return err(format!("{key}: an entry has no form {index} (for {{{name}}})")),
                }
            }
        }

        let mut lexicon = Lexicon {
            answer_length,
            composition,
            short_replies: strings(root, "short_replies")?,
            openers: Vec::new(),
            sentences: Vec::new(),
            closers: Vec::new(),
            topics,
            slot_words,
            slot_index,
            article_a_words: string_set(root, "article_a_words")?,
            article_an_words: string_set(root, "article_an_words")?,
            stopwords: string_set(root, "stopwords")?,
        };
        if lexicon.short_replies.is_empty() {
            return err("short_replies is empty");
        }
        for key in ["openers", "sentences", "closers"] {
            let templates = strings(root, key)?
                .iter()
                .map(|template| lexicon.compile(template))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LexiconError(format!("{key}: {}", e.0)))?;
            if templates.is_empty() {
                return err(format!("{key} is empty"));
            }
            match key {
                "openers" => lexicon.openers = templates,
                "sentences" => lexicon.sentences = templates,
                _ => lexicon.closers = templates,
            }
        }
        Ok(lexicon)
    }

    /// A template of this lexicon's slots (lexicon.py's `_compiled_template`): the text is split at each
    /// `\{(\w+)\}`, as `re.split` splits it.
    pub fn compile(&self, template: &str) -> Result<Template, LexiconError> {
        let mut pieces: Vec<(&str, &str)> = Vec::new(); // (slot name, literal after it)
        let mut head_end = None;
        let mut literal_start = 0;
        let mut search = 0;
        while let Some(offset) = template[search..].find('{') {
            let open = search + offset;
            let name_len = template[open + 1..].find(|c: char| !is_word_char(c)).unwrap_or(template.len() - open - 1);
            let close = open + 1 + name_len;
            if name_len == 0 || !template[close..].starts_with('}') {
                search = open + 1;
                continue;
            }
            let literal = &template[literal_start..open];
            match head_end {
                None => head_end = Some(literal),
                Some(_) => pieces.last_mut().expect("a slot before this literal").1 = literal,
            }
            pieces.push((&template[open + 1..close], ""));
            literal_start = close + 1;
            search = close + 1;
        }
        let tail = &template[literal_start..];
        let head = match head_end {
            None => tail,
            Some(head) => {
                pieces.last_mut().expect("at least one slot").1 = tail;
                head
            }
        };
        let mut slots = Vec::with_capacity(pieces.len());
        for (name, literal) in pieces {
            let slot = if name == "topic" {
                Slot::Topic
            } else {
                match self.slot_index.get(name) {
                    Some(&index) => Slot::Words(index),
                    None => return err(format!("no word list for the slot {{{name}}} in {template:?}")),
                }
            };
            slots.push((slot, literal.to_string()));
        }
        let capitalized = head.chars().next().is_some_and(|first| {
            let mut upper = first.to_uppercase();
            upper.next() == Some(first) && upper.next().is_none()
        });
        Ok(Template { head: head.to_string(), slots, capitalized })
    }

    /// Whether `word` is never echoed from a prompt (compared lower-cased by the caller).
    pub fn is_stopword(&self, lowered: &str) -> bool {
        self.stopwords.contains(lowered)
    }

    /// lexicon.py's `_vowel_sound`: whether `word` takes "an".
    fn vowel_sound(&self, word: &str) -> bool {
        let lowered = word.to_lowercase();
        let first_is_vowel = lowered.chars().next().is_some_and(|c| "aeiou".contains(c));
        (first_is_vowel && !self.article_a_words.contains(&lowered)) || self.article_an_words.contains(&lowered)
    }
}

/// One sentence from `template`, its slots filled in order, one `rng.choice` each; `{topic}` draws from `topics`, or
/// from the lexicon's topics when `topics` is empty. Then "a"/"an" agree with the next word, and the first character
/// is upper-cased unless the template starts capitalised. The template must come from `lex` (its `compile`).
pub fn fill_template(rng: &mut PyRandom, lex: &Lexicon, template: &Template, topics: &[String]) -> String {
    let mut out = String::with_capacity(template.head.len() + 16 * template.slots.len());
    out.push_str(&template.head);
    for (slot, literal) in &template.slots {
        let words = match slot {
            Slot::Topic if !topics.is_empty() => topics,
            Slot::Topic => &lex.topics[..],
            Slot::Words(index) => &lex.slot_words[*index][..],
        };
        let word: &String = rng.choice(words);
        out.push_str(word);
        out.push_str(literal);
    }
    let sentence = fix_articles(lex, &out).unwrap_or(out);
    if template.capitalized {
        return sentence;
    }
    let mut chars = sentence.chars();
    match chars.next() {
        None => sentence,
        Some(first) => first.to_uppercase().chain(chars).collect(),
    }
}

/// `_ARTICLE.sub(...)` of lexicon.py: every `([Aa])(?<!\w[Aa])n? ([A-Za-z][\w-]*)` becomes the article ("a" or "A"),
/// an "n" when the word takes "an", a space and the word. None when no article matched (the text is unchanged).
fn fix_articles(lex: &Lexicon, text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already in `out`
    let mut previous_is_word = false; // whether the character before `at` is a \w
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if (byte == b'a' || byte == b'A') && !previous_is_word {
            let mut after = at + 1;
            if bytes.get(after) == Some(&b'n') && bytes.get(after + 1) == Some(&b' ') {
                after += 1;
            }
            if bytes.get(after) == Some(&b' ') && bytes.get(after + 1).is_some_and(u8::is_ascii_alphabetic) {
                let word_start = after + 1;
                let word_len = text[word_start + 1..].find(|c: char| c != '-' && !is_word_char(c));
                let word_end = word_len.map_or(text.len(), |len| word_start + 1 + len);
                let word = &text[word_start..word_end];
                let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 8));
                out.push_str(&text[copied..at]);
                out.push(byte as char);
                if lex.vowel_sound(word) {
                    out.push('n');
                }
                out.push(' ');
                out.push_str(word);
                copied = word_end;
                // The lookbehind reads the original text: before `word_end` is the word's last character.
                previous_is_word = text[..word_end].chars().next_back().is_some_and(is_word_char);
                at = word_end;
                continue;
            }
        }
        let c = text[at..].chars().next().expect("at a character boundary");
        previous_is_word = is_word_char(c);
        at += c.len_utf8();
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// Python's `\w` on a `str`: `ch.isalnum() or ch == "_"`, i.e. general category L or N, or `_`.
pub(crate) fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static LETTER_OR_NUMBER: OnceLock<regex::Regex> = OnceLock::new();
    let class = LETTER_OR_NUMBER.get_or_init(|| regex::Regex::new(r"^[\p{L}\p{N}]$").expect("a valid class"));
    let mut buffer = [0u8; 4];
    class.is_match(c.encode_utf8(&mut buffer))
}

/// Python's `str.isspace()` of one character (and so `\s` in a `str` pattern): Unicode White_Space, plus the
/// information separators U+001C..U+001F that CPython also counts (their bidi class is B or S).
pub(crate) fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn get<'a>(map: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, LexiconError> {
    map.get(key).ok_or_else(|| LexiconError(format!("{path}{key} is missing")))
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, LexiconError> {
    value.as_object().ok_or_else(|| LexiconError(format!("{path}: expected a mapping")))
}

fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, LexiconError> {
    value.as_array().ok_or_else(|| LexiconError(format!("{path}: expected a list")))
}

fn string(value: &Value, path: &str) -> Result<String, LexiconError> {
    value.as_str().map(str::to_string).ok_or_else(|| LexiconError(format!("{path}: expected strings")))
}

fn strings(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, LexiconError> {
    array(get(map, key, "")?, key)?.iter().map(|value| string(value, key)).collect()
}

/// The strings of a list that is only asked whether it holds a word: other entries never equal one, so they are
/// dropped (YAML reads a bare `yes` in `stopwords` as true, and Python's set then holds True, not "yes").
fn string_set(map: &Map<String, Value>, key: &str) -> Result<HashSet<String>, LexiconError> {
    let entries = array(get(map, key, "")?, key)?;
    Ok(entries.iter().filter_map(|value| value.as_str().map(str::to_string)).collect())
}

fn float(value: &Value, path: &str) -> Result<f64, LexiconError> {
    value.as_f64().ok_or_else(|| LexiconError(format!("{path}: expected a number")))
}

fn float_key(map: &Map<String, Value>, key: &str, path: &str) -> Result<f64, LexiconError> {
    float(get(map, key, path)?, &format!("{path}{key}"))
}

fn int(value: &Value, path: &str) -> Result<i64, LexiconError> {
    value.as_i64().ok_or_else(|| LexiconError(format!("{path}: expected an integer")))
}

/// Python's `str(value)` of a JSON string or number (the `{number}` slot's words).
fn python_str(value: &Value, path: &str) -> Result<String, LexiconError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) if number.is_f64() => Ok(float_repr(number.as_f64().expect("an f64"))),
        Value::Number(number) => Ok(number.to_string()),
        _ => err(format!("{path}: expected numbers or strings")),
    }
}

/// `repr(x)` of a finite float, as CPython writes it (`float_repr_style` "short"): the shortest digits that round-trip,
/// positional when the decimal exponent is in -4..16 (with at least one digit after the point), else `d.ddde+XX`.
fn float_repr(x: f64) -> String {
    let scientific = format!("{x:e}"); // shortest round-trip digits: "-1.25e-7", "3e0"
    let (mantissa, exponent) = scientific.split_once('e').expect("LowerExp writes an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |rest| ("-", rest));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        if point <= 0 {
            return format!("{sign}0.{}{digits}", "0".repeat((-point) as usize));
        }
        let point = point as usize;
        if digits.len() <= point {
            return format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()));
        }
        return format!("{sign}{}.{}", &digits[..point], &digits[point..]);
    }
    let fraction = if digits.len() > 1 { format!(".{}", &digits[1..]) } else { String::new() };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{}{fraction}e{exponent_sign}{:02}", &digits[..1], exponent.abs())
}

/// A small lexicon for the unit tests of this module and of compose.rs; their expected values come from the Python
/// reference run on the same dict (lexicon.py and textgen.py with `lexicon()` returning it).
#[cfg(test)]
pub(crate) const TEST_LEXICON: &str = r#"{"answer_length": {"median_tokens": 60, "sigma": 0.8, "min_tokens": 1, "max_tokens": 1200, "short_reply_max_tokens": 6, "paragraph_min_tokens": 90, "verbosity_factors": {"low": 0.6, "medium": 1, "high": 1.6}}, "composition": {"paragraph_sentences": [2, 4], "opener_chance": 0.6, "closer_chance": 0.5, "closer_after_tokens": 40, "closer_within_tokens": 25, "numbers": [2, 3.5, 10]}, "short_replies": ["Yes."], "openers": ["Here is {topic}."], "sentences": ["{adj} {noun} a {adj} {nouns}, an {verb_ing} {number}."], "closers": ["Bye."], "connectors": ["However"], "adjectives": ["useful", "open", "honest", "clear"], "degree_adverbs": ["quite"], "adverbs": ["often"], "nouns": [["hour", "hours"], ["idea", "ideas"], ["unit", "units"]], "verbs": [["improve", "improves", "improving"], ["adjust", "adjusts", "adjusting"]], "article_a_words": ["useful", "unit"], "article_an_words": ["honest", "hour"], "stopwords": ["about", "the", "for", "with", true], "topics": ["the basics"]}"#;

/// `TEST_LEXICON`, read.
#[cfg(test)]
pub(crate) fn test_lexicon() -> Lexicon {
    Lexicon::from_json(TEST_LEXICON).expect("a valid lexicon")
}

#[cfg(test)]
mod tests {
    use super::test_lexicon as lexicon;
    use super::*;

    #[test]
    fn templates_fill_as_python_does() {
        // fill_template(random.Random(seed), template, topics) in CPython 3.11, then the next random().
        let topics: Vec<String> = ["apple pie", "unit test", "Hour"].iter().map(|s| s.to_string()).collect();
        let cases: [(&str, &str, bool, &str, f64); 12] = [
            (
                "{adj} {noun} a {adj} {nouns}, an {verb_ing} {number}.",
                "s1",
                false,
                "Useful idea a clear units, an adjusting 10.",
                0.1284524140353943,
            ),
            (
                "{adj} {noun} a {adj} {nouns}, an {verb_ing} {number}.",
                "s2",
                true,
                "Open idea an open units, an improving 3.5.",
                0.2718437697177052,
            ),
            (
                "a {adj} idea and A {noun}; {{adj}} {x-y} {}",
                "s1",
                false,
                "A useful idea and An idea; {clear} {x-y} {}",
                0.6778255884730232,
            ),
            (
                "a {adj} idea and A {noun}; {{adj}} {x-y} {}",
                "s2",
                false,
                "An open idea and An idea; {open} {x-y} {}",
                0.6325874320707796,
            ),
            ("An {noun} is {topic}", "s1", false, "A unit is the basics", 0.2742074163557734),
            ("An {noun} is {topic}", "s1", true, "A unit is Hour", 0.012744436220879951),
            ("An {noun} is {topic}", "s2", true, "A unit is apple pie", 0.44754267612204623),
            ("{topic}", "s1", false, "The basics", 0.2742074163557734),
            ("{topic}", "s1", true, "Hour", 0.8806360405150446),
            ("{topic}", "s2", true, "Hour", 0.13699264412777623),
            ("\u{e9} {adj}", "s1", false, "\u{c9} useful", 0.2742074163557734),
            ("\u{e9} {adj}", "s2", true, "\u{c9} open", 0.44754267612204623),
        ];
        let lex = lexicon();
        for (template, seed, with_topics, expected, next) in cases {
            let mut rng = PyRandom::from_str_seed(seed);
            let compiled = lex.compile(template).expect("known slots");
            let topics = if with_topics { &topics[..] } else { &[] };
            assert_eq!(fill_template(&mut rng, &lex, &compiled, topics), expected, "{template} {seed}");
            assert_eq!(rng.random(), next, "draws of {template} {seed}");
        }
    }

    #[test]
    fn articles_agree_with_the_next_word_as_python() {
        // lexicon._fix_articles in CPython 3.11 (article_a_words: useful, unit; article_an_words: honest, hour).
        let cases = [
            ("a apple", "an apple"),
            ("an user", "an user"),
            ("banana a egg", "banana an egg"),
            ("A hour", "An hour"),
            ("a  egg", "a  egg"),
            ("xa egg", "xa egg"),
            ("\u{e9}a egg", "\u{e9}a egg"),
            ("a \u{e9}", "a \u{e9}"),
            ("an apple-pie", "an apple-pie"),
            ("a an apple", "an an apple"),
            ("_a egg", "_a egg"),
            ("-a egg", "-an egg"),
            ("a egg_x an unit", "an egg_x a unit"),
            ("ann egg", "ann egg"),
            ("a n", "a n"),
            ("a \u{c9}clair", "a \u{c9}clair"),
            ("an", "an"),
            ("Ba a a a", "Ba an a a"),
        ];
        let lex = lexicon();
        for (text, expected) in cases {
            assert_eq!(fix_articles(&lex, text).unwrap_or_else(|| text.to_string()), expected, "{text}");
        }
    }

    #[test]
    fn unknown_slots_and_bad_shapes_are_refused() {
        let lex = lexicon();
        assert!(lex.compile("The {colour} sky").is_err());
        let broken = TEST_LEXICON.replace("\"sentences\": [", "\"sentences\": [\"A {nope}.\", ");
        assert!(Lexicon::from_json(&broken).unwrap_err().to_string().contains("nope"));
        assert!(Lexicon::from_json("{}").is_err());
        assert!(Lexicon::from_json(&TEST_LEXICON.replace("\"adverbs\": [\"often\"]", "\"adverbs\": []")).is_err());
    }

    #[test]
    fn float_repr_matches_python() {
        // repr() of each, from CPython 3.11.
        let cases = [
            (2.5, "2.5"),
            (3.0, "3.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (-0.5, "-0.5"),
            (0.0, "0.0"),
            (1e-100, "1e-100"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value}");
        }
    }

    #[test]
    fn python_classes() {
        assert!(is_python_space('\u{1f}') && is_python_space('\u{3000}') && is_python_space('\u{85}'));
        assert!(!is_python_space('\u{200b}') && !is_python_space('\u{180e}'));
        assert!(is_word_char('é') && is_word_char('北') && is_word_char('_') && is_word_char('²'));
        // Other_Alphabetic marks are alphabetic in Rust but not \w in Python.
        assert!(!is_word_char('\u{93e}') && !is_word_char('\u{24b6}') && !is_word_char('-'));
    }
}
