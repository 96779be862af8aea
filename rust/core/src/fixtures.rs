//! The fixture index: which canned response answers a (model, last user message) pair.
//!
//! Built once from the fixture entries. An entry matches when every condition it has holds:
//! * `exact`: the prompt, with surrounding whitespace stripped, equals the (stripped) text;
//! * `regex`: the pattern is found somewhere in the prompt (all patterns run in one RegexSet pass);
//! * `model`: the model id equals the pattern, or starts with it when the pattern ends in `*`.
//!
//! An entry with neither `exact` nor `regex` matches every prompt (a catch-all, usually low priority).
//! Among the matching entries only the highest priority counts; ties are broken by weight with a draw
//! in [0, 1) that the caller takes from its seeded RNG, so a given draw always picks the same entry.

use std::fmt;

use regex::{Regex, RegexSet};

/// One fixture's matching rule, as given by the fixture file.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureEntry {
    pub priority: i64,
    pub exact: Option<String>,
    pub regex: Option<String>,
    pub model: Option<String>,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FixtureError {
    /// The entry's regex does not compile (Rust `regex` syntax: no look-around, no back-references).
    BadRegex { entry: usize, pattern: String, message: String },
    /// Weights must be > 0 and at most `MAX_WEIGHT`, or the weighted choice is meaningless (a sum of huge weights
    /// overflows to infinity).
    BadWeight { entry: usize, weight: f64 },
    /// The draw must be in [0, 1).
    BadDraw { draw: f64 },
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Some(entry) => write!(f, "fixture entry {entry}: {}", self.detail()),
            None => f.write_str(&self.detail()),
        }
    }
}

impl std::error::Error for FixtureError {}

impl FixtureError {
    /// The problem without the entry number, for callers that name entries their own way.
    pub fn detail(&self) -> String {
        match self {
            FixtureError::BadRegex { pattern, message, .. } => format!("invalid regex {pattern:?}: {message}"),
            FixtureError::BadWeight { weight, .. } => {
                format!("weight must be a number > 0 and at most {MAX_WEIGHT:e}, got {weight}")
            }
            FixtureError::BadDraw { draw } => format!("draw must be in [0, 1), got {draw}"),
        }
    }

    /// The index of the offending entry, if the error is about one.
    pub fn entry(&self) -> Option<usize> {
        match self {
            FixtureError::BadRegex { entry, .. } | FixtureError::BadWeight { entry, .. } => Some(*entry),
            FixtureError::BadDraw { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
enum ModelPattern {
    Any,
    Exact(String),
    Prefix(String),
}

impl ModelPattern {
    fn parse(pattern: Option<&str>) -> Self {
        match pattern {
            None => ModelPattern::Any,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => ModelPattern::Prefix(prefix.to_owned()),
                None => ModelPattern::Exact(p.to_owned()),
            },
        }
    }

    fn matches(&self, model: &str) -> bool {
        match self {
            ModelPattern::Any => true,
            ModelPattern::Exact(id) => model == id,
            ModelPattern::Prefix(prefix) => model.starts_with(prefix.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledEntry {
    index: usize,
    priority: i64,
    exact: Option<String>,
    /// Position of this entry's pattern in the RegexSet.
    regex_slot: Option<usize>,
    model: ModelPattern,
    weight: f64,
}

/// The compiled index. Immutable after construction, so it can be shared between threads.
#[derive(Debug, Clone)]
pub struct FixtureIndex {
    /// Sorted by descending priority (stable, so file order breaks ties), which lets a lookup stop at
    /// the first priority below the best match.
    by_priority: Vec<CompiledEntry>,
    regexes: RegexSet,
}

/// Keeps the total of any realistic number of weights finite.
pub const MAX_WEIGHT: f64 = 1e12;

impl FixtureIndex {
    pub fn new(entries: &[FixtureEntry]) -> Result<Self, FixtureError> {
        let mut patterns = Vec::new();
        let mut compiled = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            if !(entry.weight > 0.0 && entry.weight <= MAX_WEIGHT) {
                return Err(FixtureError::BadWeight { entry: index, weight: entry.weight });
            }
            let regex_slot = entry.regex.as_ref().map(|pattern| {
                patterns.push((index, pattern.as_str()));
                patterns.len() - 1
            });
            compiled.push(CompiledEntry {
                index,
                priority: entry.priority,
                exact: entry.exact.as_deref().map(|text| text.trim().to_owned()),
                regex_slot,
                model: ModelPattern::parse(entry.model.as_deref()),
                weight: entry.weight,
            });
        }
        let regexes = RegexSet::new(patterns.iter().map(|(_, p)| *p)).map_err(|_| first_bad_regex(&patterns))?;
        compiled.sort_by_key(|entry| std::cmp::Reverse(entry.priority));
        Ok(FixtureIndex { by_priority: compiled, regexes })
    }

    pub fn len(&self) -> usize {
        self.by_priority.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_priority.is_empty()
    }

    /// The index (in the order given to [`FixtureIndex::new`]) of the entry answering `prompt` for `model`.
    pub fn lookup(&self, model: &str, prompt: &str, draw: f64) -> Result<Option<usize>, FixtureError> {
        if !(0.0..1.0).contains(&draw) {
            return Err(FixtureError::BadDraw { draw });
        }
        let regex_hits = if self.regexes.is_empty() { None } else { Some(self.regexes.matches(prompt)) };
        let stripped = prompt.trim();
        let mut best: Vec<&CompiledEntry> = Vec::new();
        for entry in &self.by_priority {
            if let Some(first) = best.first() {
                if entry.priority < first.priority {
                    break;
                }
            }
            let exact_ok = entry.exact.as_deref().is_none_or(|text| text == stripped);
            let regex_ok =
                entry.regex_slot.is_none_or(|slot| regex_hits.as_ref().is_some_and(|hits| hits.matched(slot)));
            if exact_ok && regex_ok && entry.model.matches(model) {
                best.push(entry);
            }
        }
        Ok(choose_by_weight(&best, draw).map(|entry| entry.index))
    }
}

/// Cumulative-weight choice: the entry whose weight interval contains `draw x total`.
fn choose_by_weight<'a>(candidates: &[&'a CompiledEntry], draw: f64) -> Option<&'a CompiledEntry> {
    let (last, _) = candidates.split_last()?;
    let total: f64 = candidates.iter().map(|e| e.weight).sum();
    let target = draw * total;
    let mut cumulative = 0.0;
    for entry in candidates {
        cumulative += entry.weight;
        if target < cumulative {
            return Some(entry);
        }
    }
    // Rounding can leave a draw just below 1 past the last boundary; it belongs to the last entry.
    Some(last)
}

/// RegexSet's error does not say which pattern failed; compiling them one by one does.
fn first_bad_regex(patterns: &[(usize, &str)]) -> FixtureError {
    for (entry, pattern) in patterns {
        if let Err(err) = Regex::new(pattern) {
            return FixtureError::BadRegex { entry: *entry, pattern: (*pattern).to_owned(), message: err.to_string() };
        }
    }
    // Every pattern compiles alone but the set does not: only possible by exceeding the set's size limit.
    FixtureError::BadRegex {
        entry: patterns.last().map_or(0, |(entry, _)| *entry),
        pattern: String::new(),
        message: "the combined regexes exceed the size limit".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        priority: i64,
        exact: Option<&str>,
        regex: Option<&str>,
        model: Option<&str>,
        weight: f64,
    ) -> FixtureEntry {
        FixtureEntry {
            priority,
            exact: exact.map(str::to_owned),
            regex: regex.map(str::to_owned),
            model: model.map(str::to_owned),
            weight,
        }
    }

    #[test]
    fn higher_priority_wins_over_an_earlier_match() {
        let index = FixtureIndex::new(&[
            entry(0, None, Some("(?i)hello"), None, 1.0),
            entry(5, None, Some("(?i)hello there"), None, 1.0),
        ])
        .unwrap();
        assert_eq!(index.lookup("gpt-4o", "Hello there!", 0.5).unwrap(), Some(1));
        assert_eq!(index.lookup("gpt-4o", "hello you", 0.5).unwrap(), Some(0));
        assert_eq!(index.lookup("gpt-4o", "goodbye", 0.5).unwrap(), None);
    }

    #[test]
    fn exact_ignores_surrounding_whitespace_only() {
        let index = FixtureIndex::new(&[entry(0, Some(" Say this is a test "), None, None, 1.0)]).unwrap();
        assert_eq!(index.lookup("m", "\n Say this is a test\t", 0.0).unwrap(), Some(0));
        assert_eq!(index.lookup("m", "Say this is a test!", 0.0).unwrap(), None);
    }

    #[test]
    fn exact_and_regex_together_must_both_hold() {
        let index = FixtureIndex::new(&[entry(0, Some("abc"), Some("^x"), None, 1.0)]).unwrap();
        assert_eq!(index.lookup("m", "abc", 0.0).unwrap(), None);
    }

    #[test]
    fn model_patterns() {
        let index =
            FixtureIndex::new(&[entry(0, None, None, Some("gpt-4o*"), 1.0), entry(0, None, None, Some("o3"), 1.0)])
                .unwrap();
        assert_eq!(index.lookup("gpt-4o-mini", "x", 0.0).unwrap(), Some(0));
        assert_eq!(index.lookup("o3", "x", 0.0).unwrap(), Some(1));
        assert_eq!(index.lookup("o3-mini", "x", 0.0).unwrap(), None);
        assert_eq!(index.lookup("gpt-4", "x", 0.0).unwrap(), None);
    }

    #[test]
    fn weights_split_the_unit_interval() {
        let index = FixtureIndex::new(&[entry(1, None, None, None, 1.0), entry(1, None, None, None, 3.0)]).unwrap();
        assert_eq!(index.lookup("m", "p", 0.0).unwrap(), Some(0));
        assert_eq!(index.lookup("m", "p", 0.2499).unwrap(), Some(0));
        assert_eq!(index.lookup("m", "p", 0.25).unwrap(), Some(1));
        assert_eq!(index.lookup("m", "p", 0.999_999_999_999).unwrap(), Some(1));
    }

    #[test]
    fn errors_name_the_entry() {
        let err =
            FixtureIndex::new(&[entry(0, None, Some("ok"), None, 1.0), entry(0, None, Some("(unclosed"), None, 1.0)])
                .unwrap_err();
        assert_eq!(err.entry(), Some(1));
        assert!(err.to_string().contains("(unclosed"));
        let err = FixtureIndex::new(&[entry(0, None, None, None, 0.0)]).unwrap_err();
        assert_eq!(err, FixtureError::BadWeight { entry: 0, weight: 0.0 });
        // Two weights of 1e308 would sum to infinity and make every draw pick the last entry.
        let huge = FixtureIndex::new(&[entry(0, None, None, None, 1.0), entry(0, None, None, None, 1e308)]);
        assert_eq!(huge.unwrap_err().entry(), Some(1));
        let index = FixtureIndex::new(&[]).unwrap();
        assert!(index.is_empty());
        assert_eq!(index.lookup("m", "p", 1.0), Err(FixtureError::BadDraw { draw: 1.0 }));
        assert_eq!(index.lookup("m", "p", f64::NAN).unwrap_err().entry(), None);
    }
}
