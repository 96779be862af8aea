//! The first step of tiktoken's encoding: cutting the text into pieces with the encoding's pattern.
//!
//! tiktoken compiles `_pat_str` with fancy-regex, for two constructs the `regex` crate lacks: the lookahead of
//! `\s+(?!\S)` and (in cl100k) possessive quantifiers. fancy-regex's backtracking costs about 4 us on a 50-token
//! sentence, three times the `regex` crate's DFA, so for the two patterns we ship the split runs on an equivalent
//! pattern without either construct:
//!
//! * cl100k's possessive quantifiers never change its matches: each sits on a class that what follows it cannot
//!   match (`[^\r\n\p{L}\p{N}]?+` before `\p{L}`, `[^\s\p{L}\p{N}]++` before `[\r\n]`), or ends its alternative.
//! * `\s+(?!\S)|\s+` (o200k) and `\s+(?!\S)|\s` (cl100k) are reached only on a whitespace run without `\r`/`\n`
//!   (the earlier `\s*[\r\n]` alternatives take any run holding one). On it `\s+(?!\S)` backtracks one character
//!   when the run is followed by a non-space, so it matches the run less its last character if the run has two or
//!   more; otherwise the last alternative matches the whole (then one-character) run. The equivalent pattern
//!   matches the whole run with a final `\s+`, and [`Splitter::for_each`] gives back that last character, which
//!   starts the next piece (as in tiktoken, where it becomes the leading space of the next word).
//!
//! Any other pattern is run by fancy-regex, as tiktoken runs it. The Python property tests
//! (tests/native/test_native_bpe.py) hold both encodings to tiktoken's output.

/// tiktoken 0.14.0's `_pat_str` of o200k_base (tiktoken_ext/openai_public.py), and its lookahead-free form.
pub(super) const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|",
    r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);
const O200K_PLAIN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|",
    r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+"
);
/// The same for cl100k_base.
pub(super) const CL100K: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
const CL100K_PLAIN: &str =
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+";

pub(super) enum Splitter {
    /// One of tiktoken's patterns, rewritten as described in the module doc.
    Plain(regex::Regex),
    Fancy(fancy_regex::Regex),
}

/// True for a match of the final `\s+` that tiktoken's `\s+(?!\S)` would have cut short: a run of two or more
/// spaces without `\r`/`\n`. (No earlier alternative of the two patterns matches such a run not at the end.)
fn spaces_before_a_word(piece: &str) -> Option<usize> {
    if !piece.chars().all(|c| c.is_whitespace() && c != '\r' && c != '\n') {
        return None;
    }
    piece.char_indices().next_back().map(|(last, _)| last).filter(|&last| last > 0)
}

impl Splitter {
    pub(super) fn new(pattern: &str) -> Result<Self, String> {
        let plain = match pattern {
            O200K => Some(O200K_PLAIN),
            CL100K => Some(CL100K_PLAIN),
            _ => None,
        };
        match plain {
            Some(plain) => {
                // `^` on the rest of the text: the pieces tile the text, so each one starts where the last ended.
                regex::Regex::new(&format!("^(?:{plain})")).map(Splitter::Plain).map_err(|err| err.to_string())
            }
            None => fancy_regex::Regex::new(pattern).map(Splitter::Fancy).map_err(|err| err.to_string()),
        }
    }

    #[cfg(test)]
    pub(super) fn is_plain(&self) -> bool {
        matches!(self, Splitter::Plain(_))
    }

    /// Calls `each` with every non-empty piece of the split of `text`, in order. If fancy-regex gives up (its
    /// backtrack limit; tiktoken would panic there), the rest of the text is one piece.
    pub(super) fn for_each(&self, text: &str, mut each: impl FnMut(&[u8])) {
        match self {
            Splitter::Plain(regex) => {
                let mut at = 0;
                while at < text.len() {
                    let rest = &text[at..];
                    // Anchored, so only a forward search runs. Every character starts a match of both patterns
                    // (letters, marks, digits, spaces, and the `[^\s\p{L}\p{N}]` class cover them all), so the
                    // else branch is never taken; it keeps the text rather than dropping it.
                    let Some(found) = regex.find(rest) else {
                        each(rest.as_bytes());
                        return;
                    };
                    let mut end = found.end();
                    if end < rest.len() {
                        if let Some(last) = spaces_before_a_word(found.as_str()) {
                            end = last;
                        }
                    }
                    each(&rest.as_bytes()[..end]);
                    at += end;
                }
            }
            Splitter::Fancy(regex) => {
                let mut done = 0;
                for found in regex.find_iter(text) {
                    let Ok(found) = found else {
                        if done < text.len() {
                            each(&text.as_bytes()[done..]);
                        }
                        return;
                    };
                    // tiktoken's patterns never match empty; a caller's pattern might, and "" has no tokens.
                    if !found.as_str().is_empty() {
                        each(found.as_str().as_bytes());
                    }
                    done = found.end();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(splitter: &Splitter, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        splitter.for_each(text, |piece| out.push(String::from_utf8(piece.to_vec()).unwrap()));
        out
    }

    /// Texts that reach every alternative of both patterns, and the lookahead's edge cases.
    const TEXTS: &[&str] = &[
        "hello world",
        "Hello   world",
        "a  \u{3000}b",
        "a \u{3000}\u{3000}",
        "x  \n  y",
        "x \r\n\r\n z",
        "  ",
        " ",
        "a ",
        "a  ",
        "  1234567",
        "I'LL don't you'Re 'S",
        "foo  !!!  bar\n\n",
        "  \t\t//x",
        "CamelCaseWORDs ÉCOLE naïve",
        "日本語のテキスト、です。",
        "emoji 🙂🙂  🙂",
        "tabs\t\tand\u{a0}\u{a0}nbsp",
        "\u{301}\u{301}a \u{301}",
        "end with newline\n",
        "<|endoftext|> <|fim_prefix|>",
    ];

    #[test]
    fn the_plain_splits_equal_fancy_regex_on_tiktokens_patterns() {
        for (pattern, name) in [(O200K, "o200k"), (CL100K, "cl100k")] {
            let plain = Splitter::new(pattern).unwrap();
            assert!(plain.is_plain(), "{name}");
            let fancy = Splitter::Fancy(fancy_regex::Regex::new(pattern).unwrap());
            for text in TEXTS {
                assert_eq!(pieces(&plain, text), pieces(&fancy, text), "{name}: {text:?}");
            }
        }
    }

    #[test]
    fn spaces_before_a_word_go_with_the_word() {
        let o200k = Splitter::new(O200K).unwrap();
        assert_eq!(pieces(&o200k, "a   b"), ["a", "  ", " b"]);
        assert_eq!(pieces(&o200k, "a   "), ["a", "   "]);
        assert_eq!(pieces(&o200k, "a \n b"), ["a", " \n", " b"]);
        let cl100k = Splitter::new(CL100K).unwrap();
        assert_eq!(pieces(&cl100k, "1  +"), ["1", " ", " +"]);
    }

    #[test]
    fn other_patterns_run_on_fancy_regex() {
        let splitter = Splitter::new(r"\w+(?=!)|\W").unwrap();
        assert!(!splitter.is_plain());
        assert_eq!(pieces(&splitter, "hi! yo"), ["hi", "!", " "]);
        assert!(Splitter::new("(").is_err());
    }
}
