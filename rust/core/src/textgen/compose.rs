//! An answer of natural length cut at a token limit, and the prompt's salient phrases: a port of
//! `python/sentra_openai/engine/content/textgen.py` (the reference) and of the part of `tokensplit.py` that
//! `truncate_to_tokens` needs. Every RNG draw happens in Python's order, so one seed gives one text on both sides.

use std::collections::HashMap;

use super::bpe::Encoding;
use super::lexicon::{fill_template, is_python_space, Lexicon, Template};
use super::pyrandom::PyRandom;

/// How an answer ended: `Length` when it was cut at `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// An answer and its token count (tiktoken's, of `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedText {
    pub text: String,
    pub completion_tokens: usize,
    pub finish_reason: FinishReason,
}

/// How many tokens an unconstrained answer has: lognormal around the median, clipped to the maximum, scaled by the
/// verbosity after the draw, rounded half to even (Python's `round`), and at least `min_tokens`.
pub fn natural_length(rng: &mut PyRandom, lex: &Lexicon, verbosity: &str) -> i64 {
    let params = &lex.answer_length;
    let drawn = rng.lognormvariate(params.median_tokens.ln(), params.sigma);
    let factor = params.verbosity_factors.get(verbosity).copied().unwrap_or(1.0);
    // min() keeps max_tokens on a tie, as Python's min(max_tokens, drawn) does: the same value either way.
    let scaled = (params.max_tokens.min(drawn) * factor).round_ties_even();
    params.min_tokens.max(scaled as i64)
}

/// A natural-length answer, cut at `max_tokens` (>= 1) tokens when it would be longer. The text depends only on the
/// RNG and the prompt: a smaller limit cuts a prefix of the same answer.
pub fn generate_answer(
    rng: &mut PyRandom,
    max_tokens: usize,
    enc: &Encoding,
    lex: &Lexicon,
    prompt: &str,
    verbosity: &str,
) -> GeneratedText {
    assert!(max_tokens >= 1, "max_tokens must be at least 1");
    let target = natural_length(rng, lex, verbosity);
    let topics = salient_phrases(lex, prompt);
    let (text, count) = compose(rng, target, max_tokens, enc, lex, &topics);
    if count <= max_tokens {
        return GeneratedText { text, completion_tokens: count, finish_reason: FinishReason::Stop };
    }
    let cut = truncate_to_tokens(enc, &text, max_tokens);
    let completion_tokens = enc.count_ordinary(&cut);
    GeneratedText { text: cut, completion_tokens, finish_reason: FinishReason::Length }
}

/// Sentences until the target is reached (or the limit certainly passed); the text and its token count.
fn compose(
    rng: &mut PyRandom,
    target: i64,
    max_tokens: usize,
    enc: &Encoding,
    lex: &Lexicon,
    topics: &[String],
) -> (String, usize) {
    if target as f64 <= lex.answer_length.short_reply_max_tokens {
        let text = lex.short_replies[rng.randrange(lex.short_replies.len() as u64) as usize].clone();
        let count = enc.count_ordinary(&text);
        return (text, count);
    }
    // As in textgen.py: the natural end depends only on the RNG and the target, and `count` sums the per-sentence
    // counts (exact but where BPE merges ".\n\n"); once it passes the limit, the joined text is counted exactly.
    let knobs = &lex.composition;
    let in_paragraphs = target as f64 > lex.answer_length.paragraph_min_tokens;
    let (sentences_min, sentences_max) = knobs.paragraph_sentences;
    let mut paragraphs: Vec<Vec<String>> = vec![Vec::new()];
    let mut paragraph_size = rng.randint(sentences_min, sentences_max);
    let mut count: i64 = 0;
    let mut sentence_index = 0usize;
    let max = max_tokens as i64;
    let mut joined = String::new();
    while count < target {
        if count > max {
            let text = join(&paragraphs);
            let text_tokens = enc.count_ordinary(&text);
            if text_tokens > max_tokens {
                return (text, text_tokens);
            }
        }
        let closing;
        let templates: &[Template] = if sentence_index == 0 && rng.random() < knobs.opener_chance {
            closing = false;
            &lex.openers
        } else if count as f64 > knobs.closer_after_tokens
            && ((target - count) as f64) < knobs.closer_within_tokens
            && rng.random() < knobs.closer_chance
        {
            closing = true;
            &lex.closers
        } else {
            closing = false;
            &lex.sentences
        };
        let template = &templates[rng.randrange(templates.len() as u64) as usize];
        let sentence = fill_template(rng, lex, template, topics);
        if in_paragraphs && paragraphs.last().expect("never empty").len() as i64 >= paragraph_size {
            paragraphs.push(Vec::new());
            paragraph_size = rng.randint(sentences_min, sentences_max);
        }
        let last = paragraphs.last_mut().expect("never empty");
        let joiner = if !last.is_empty() {
            " "
        } else if sentence_index > 0 {
            "\n\n"
        } else {
            ""
        };
        joined.clear();
        joined.push_str(joiner);
        joined.push_str(&sentence);
        count += enc.count_ordinary(&joined) as i64;
        last.push(sentence);
        sentence_index += 1;
        if closing {
            break;
        }
    }
    let text = join(&paragraphs);
    let count = enc.count_ordinary(&text);
    (text, count)
}

fn join(paragraphs: &[Vec<String>]) -> String {
    paragraphs.iter().map(|paragraph| paragraph.join(" ")).collect::<Vec<_>>().join("\n\n")
}

/// The longest prefix of `text` made of its first `n` tokens or fewer that re-encodes to <= `n` tokens; it ends on a
/// boundary of `text`'s own tokens and never inside a character (textgen.py's `truncate_to_tokens`).
pub fn truncate_to_tokens(enc: &Encoding, text: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let ids = enc.encode_ordinary(text);
    if ids.len() <= n {
        return text.to_string();
    }
    // Fast path: the n-th token ends on a character boundary (always, for ASCII prose).
    let head = enc.decode_bytes(&ids[..n]);
    if let Ok(candidate) = std::str::from_utf8(&head) {
        if text.starts_with(candidate) && enc.count_ordinary(candidate) <= n {
            return candidate.to_string();
        }
    }
    // tokensplit.py's pieces: each token's bytes, merged forward until they end on a character boundary. The tokens'
    // bytes are `text`'s, so a piece ends where the running byte offset is a boundary of `text`. Collect the ends of
    // the pieces that together span at most n tokens.
    let mut offset = 0;
    let mut pending = 0; // tokens of the piece being built
    let mut tokens_so_far = 0;
    let mut boundaries = Vec::new();
    for &token in &ids {
        offset += enc.token_bytes(token).len();
        pending += 1;
        if !text.is_char_boundary(offset) {
            continue;
        }
        tokens_so_far += pending;
        pending = 0;
        if tokens_so_far > n {
            break;
        }
        boundaries.push(offset);
    }
    // (textgen.py returns the whole text when every piece fits, which cannot happen here: text has more than n tokens.)
    for &end in boundaries.iter().rev() {
        let candidate = &text[..end];
        if enc.count_ordinary(candidate) <= n {
            return candidate.to_string();
        }
    }
    String::new()
}

/// Up to two short phrases from the prompt's last 2000 characters (runs of content words), ranked by frequency, then
/// length, then text; a phrase is a run's last two words, one of them of five letters or more.
pub fn salient_phrases(lex: &Lexicon, prompt: &str) -> Vec<String> {
    let tail = match prompt.char_indices().rev().nth(1999) {
        Some((start, _)) => &prompt[start..],
        None => prompt,
    };
    let mut phrases: HashMap<String, usize> = HashMap::new();
    let mut run: Vec<String> = Vec::new();
    let mut sentence_start = true;
    for token in words(tail) {
        let token = match token {
            Token::Others(others) => {
                if !run.is_empty() {
                    close_run(&run, &mut phrases);
                    run.clear();
                }
                sentence_start = others.ends_with(['.', '!', '?']);
                continue;
            }
            Token::Word(word) => word,
        };
        let lowered = token.to_ascii_lowercase();
        // isupper(): no lower-case letter (a word always has a letter); a word's [1:] always ends in a letter.
        let all_upper = !token.bytes().any(|b| b.is_ascii_lowercase());
        if token.len() >= 3 && !lex.is_stopword(&lowered) && !all_upper {
            // A capital only because the sentence starts here is dropped; a name keeps its capital ("Paris").
            let rest_lower = !token[1..].bytes().any(|b| b.is_ascii_uppercase());
            run.push(if sentence_start && rest_lower { lowered } else { token.to_string() });
        } else if !run.is_empty() {
            close_run(&run, &mut phrases);
            run.clear();
        }
        sentence_start = false;
    }
    if !run.is_empty() {
        close_run(&run, &mut phrases);
    }
    let mut ranked: Vec<(String, usize)> = phrases.into_iter().collect();
    ranked.sort_by(|(a, a_count), (b, b_count)| b_count.cmp(a_count).then(b.len().cmp(&a.len())).then(a.cmp(b)));
    ranked.into_iter().take(2).map(|(phrase, _)| phrase).collect()
}

/// Counts the run's last two words as a phrase, when one of them has five letters or more.
fn close_run(run: &[String], phrases: &mut HashMap<String, usize>) {
    let last_two = &run[run.len().saturating_sub(2)..];
    if last_two[0].len() >= 5 || last_two[last_two.len() - 1].len() >= 5 {
        *phrases.entry(last_two.join(" ")).or_insert(0) += 1;
    }
}

/// One match of textgen.py's `_WORDS`.
enum Token<'a> {
    /// Group 1, `[A-Za-z][A-Za-z'-]*[A-Za-z]`: two ASCII letters or more, with inner ' and -.
    Word(&'a str),
    /// Group 2, `[^\sA-Za-z][^A-Za-z]*(?<!\s)`: a run of non-letters starting and ending with a non-space.
    Others(&'a str),
}

/// `_WORDS.finditer(text)`: at each position group 1 is tried, then group 2; where neither matches (a space, a lone
/// letter) the search moves on one character. Words and phrases are ASCII, so their lengths in bytes are Python's.
fn words(text: &str) -> impl Iterator<Item = Token<'_>> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at;
            if bytes[start].is_ascii_alphabetic() {
                // The greedy [A-Za-z'-]* backtracks to its last letter; without one, the match fails here.
                let mut end = None;
                let mut index = start + 1;
                while index < bytes.len()
                    && (bytes[index].is_ascii_alphabetic() || matches!(bytes[index], b'\'' | b'-'))
                {
                    if bytes[index].is_ascii_alphabetic() {
                        end = Some(index + 1);
                    }
                    index += 1;
                }
                match end {
                    Some(end) => {
                        at = end;
                        return Some(Token::Word(&text[start..end]));
                    }
                    None => {
                        at = start + 1;
                        continue;
                    }
                }
            }
            let first = text[start..].chars().next().expect("at a character boundary");
            if is_python_space(first) {
                at = start + first.len_utf8();
                continue;
            }
            let run_end = text[start..].find(|c: char| c.is_ascii_alphabetic()).map_or(text.len(), |len| start + len);
            // The lookbehind gives back the run's trailing spaces; its first character is not one.
            let end = start + text[start..run_end].trim_end_matches(is_python_space).len();
            at = end;
            return Some(Token::Others(&text[start..end]));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::textgen::lexicon::test_lexicon as lexicon;

    #[test]
    fn natural_length_draws_as_python() {
        // textgen.natural_length(random.Random(seed), verbosity) in CPython 3.11 (median 60, sigma 0.8).
        let cases =
            [("a", [26, 43, 69, 43]), ("b", [50, 84, 134, 84]), ("c", [36, 59, 95, 59]), ("seed-42", [29, 49, 78, 49])];
        let lex = lexicon();
        for (seed, lengths) in cases {
            for (verbosity, expected) in ["low", "medium", "high", "other"].into_iter().zip(lengths) {
                let mut rng = PyRandom::from_str_seed(seed);
                assert_eq!(natural_length(&mut rng, &lex, verbosity), expected, "{seed} {verbosity}");
            }
        }
    }

    #[test]
    fn salient_phrases_as_python() {
        // textgen.salient_phrases in CPython 3.11 (stopwords: about, the, for, with).
        let long = format!("Elephant trunks. {}Giraffe necks.", "tiny words. ".repeat(200));
        let cases: [(&str, &[&str]); 8] = [
            // The lexicon's stopwords hold `true` (YAML's reading of a bare yes), so "yes" is not one.
            ("yes yesterday, the big parade. True words", &["yes yesterday", "big parade"]),
            ("How do I grow tomatoes in a small garden?", &["grow tomatoes", "small garden"]),
            ("Tell me about Paris. Paris is the capital of France; France has Paris.", &["has Paris", "capital"]),
            (
                "THE NASA mission about Rockets-and-stuff, with don't-stop energy!",
                &["Rockets-and-stuff", "don't-stop energy"],
            ),
            ("", &[]),
            ("Visit \u{5317}\u{4eac} and Kyoto, Kyoto temples. Kyoto temples!", &["Kyoto temples", "kyoto temples"]),
            (&long, &["tiny words", "giraffe necks"]),
            (
                "Giraffe necks. Giraffe necks. Giraffe necks. a Giraffe necks. Tiny words, tiny words. Big elephants",
                &["giraffe necks", "tiny words"],
            ),
        ];
        let lex = lexicon();
        for (prompt, expected) in cases {
            assert_eq!(salient_phrases(&lex, prompt), expected, "{prompt}");
        }
    }

    fn collect(text: &str) -> Vec<(String, String)> {
        words(text)
            .map(|token| match token {
                Token::Word(word) => (word.to_string(), String::new()),
                Token::Others(others) => (String::new(), others.to_string()),
            })
            .collect()
    }

    #[test]
    fn words_match_pythons_findall() {
        // _WORDS.findall(...) in CPython 3.11.
        let pairs =
            |items: &[(&str, &str)]| items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(
            collect("I am don't-stop a- 12 , ab'  x 北京 é!\u{1f} "),
            pairs(&[("am", ""), ("don't-stop", ""), ("", "- 12 ,"), ("ab", ""), ("", "'"), ("", "北京 é!")])
        );
        assert_eq!(collect("  \u{3000}"), pairs(&[]));
        assert_eq!(collect("x1y -- z"), pairs(&[("", "1"), ("", "--")]));
    }
}
