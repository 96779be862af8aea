//! tiktoken's byte-pair encoding over a `.tiktoken` rank file, giving exactly tiktoken's `encode_ordinary`.
//!
//! The algorithm is tiktoken's (openai/tiktoken, src/lib.rs: `CoreBPE::encode_ordinary`, `byte_pair_encode`,
//! `_byte_pair_merge`): split the text with the encoding's pattern (`_pat_str`, see bpe/split.rs); a piece that is
//! itself a token is that token; otherwise start from its single bytes and repeatedly merge the adjacent pair whose
//! concatenation has the lowest rank (the leftmost such pair on a tie) until no adjacent pair concatenates to a
//! token.
//!
//! Memory: tiktoken keeps a `HashMap<Vec<u8>, Rank>` and its inverse (~200k heap allocations for o200k). Here all
//! token bytes sit in one arena in rank order, `offsets` gives each rank's slice (decoding is two array reads), and
//! an open-addressing table of ranks, probed by a hash of the bytes and confirmed against the arena, does the
//! lookups: about 1.4 MB of bytes, 0.8 MB of offsets and 2 MB of table for o200k.
use base64::Engine as _;
use split::Splitter;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::path::Path;

mod split;

type Rank = u32;
/// A free slot of the lookup table, and the rank of "no token" in the merge (tiktoken uses `Rank::MAX` too).
const NONE: Rank = Rank::MAX;
/// Pieces longer than this (bytes) are merged with a heap (`Encoding::merge_long`).
const LONG_PIECE: usize = 256;
/// Ranks may have gaps (tiktoken allows any ints); this bounds the offsets array a hostile file could ask for.
const MAX_GAP_FACTOR: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BpeError {
    /// A line is not `<base64 token> <rank>` (1-based line number).
    BadLine(usize),
    /// A token's bytes are empty.
    EmptyToken(usize),
    /// Two lines give the same token bytes (tiktoken refuses such an encoder too).
    DuplicateToken(usize),
    /// Two lines give the same rank.
    DuplicateRank(Rank),
    /// A rank is so much larger than the number of tokens that the decode table would be mostly empty.
    SparseRanks { max_rank: Rank, tokens: usize },
    /// A single byte is not a token: such a file cannot encode every text (tiktoken would panic on it).
    MissingByte(u8),
    /// The pattern does not compile (with fancy-regex, as tiktoken compiles it).
    Pattern(String),
    /// `from_path` could not read the file.
    Io { kind: std::io::ErrorKind, detail: String },
}

impl fmt::Display for BpeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BpeError::BadLine(line) => write!(f, "ranks file line {line}: expected '<base64 token> <rank>'"),
            BpeError::EmptyToken(line) => write!(f, "ranks file line {line}: the token is empty"),
            BpeError::DuplicateToken(line) => write!(f, "ranks file line {line}: the token appears twice"),
            BpeError::DuplicateRank(rank) => write!(f, "ranks file: rank {rank} appears twice"),
            BpeError::SparseRanks { max_rank, tokens } => {
                write!(f, "ranks file: rank {max_rank} is too large for {tokens} tokens")
            }
            BpeError::MissingByte(byte) => write!(f, "ranks file: the single byte 0x{byte:02x} is not a token"),
            BpeError::Pattern(detail) => write!(f, "bad split pattern: {detail}"),
            BpeError::Io { detail, .. } => f.write_str(detail),
        }
    }
}

impl std::error::Error for BpeError {}

/// A tiktoken encoding without special tokens: immutable after `new`, so `Send + Sync` and shareable.
pub struct Encoding {
    /// Every token's bytes, concatenated in rank order.
    arena: Box<[u8]>,
    /// Token `r` is `arena[offsets[r]..offsets[r + 1]]`; an absent rank (a gap) has an empty slice.
    offsets: Box<[u32]>,
    /// Open addressing with linear probing: each slot holds a rank, or `NONE`.
    table: Box<[Rank]>,
    /// `64 - log2(table.len())`: a hash's top bits pick the first slot.
    shift: u32,
    tokens: usize,
    splitter: Splitter,
    pattern: Box<str>,
}

/// The bytes (at most 8) as a little-endian word, zero-padded, by overlapping fixed-size loads: a copy of a
/// variable length would call memcpy, which costs more than the hash.
#[inline]
fn tail_word(tail: &[u8]) -> u64 {
    let n = tail.len();
    if n >= 4 {
        let low = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
        let high = u32::from_le_bytes([tail[n - 4], tail[n - 3], tail[n - 2], tail[n - 1]]) as u64;
        low | high << ((n - 4) * 8)
    } else if n > 0 {
        tail[0] as u64 | (tail[n / 2] as u64) << (n / 2 * 8) | (tail[n - 1] as u64) << ((n - 1) * 8)
    } else {
        0
    }
}

/// FxHash's word step (rustc-hash), over little-endian 8-byte words and a zero-padded tail, seeded with the
/// length. Its top bits mix every input bit, which is what `slot` uses.
#[inline]
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact(8) gives 8 bytes"));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ tail_word(chunks.remainder())).wrapping_mul(K)
}

/// `a == b` without a call to memcmp, which costs more than the compare for tokens (a few bytes each).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while a.len() >= 8 {
        if a[..8] != b[..8] {
            return false;
        }
        (a, b) = (&a[8..], &b[8..]);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// The non-blank lines of a `.tiktoken` file with their 1-based numbers (tiktoken's `load_tiktoken_bpe` skips
/// blank lines too).
fn entry_lines(ranks_file: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    ranks_file
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
}

struct Parsed {
    /// Every token's bytes, in file order.
    arena: Vec<u8>,
    /// Token k of the file is `arena[starts[k]..starts[k + 1]]`.
    starts: Vec<u32>,
    /// Token k's rank; left empty while the ranks are 0, 1, 2, ... (tiktoken's files), where it is k.
    ranks: Vec<Rank>,
}

impl Parsed {
    fn in_order(&self) -> bool {
        self.ranks.is_empty()
    }

    fn rank(&self, k: usize) -> Rank {
        if self.in_order() {
            k as Rank
        } else {
            self.ranks[k]
        }
    }

    fn tokens(&self) -> usize {
        self.starts.len() - 1
    }
}

fn parse(ranks_file: &[u8]) -> Result<Parsed, BpeError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut arena = Vec::with_capacity(ranks_file.len() / 2);
    let mut starts = Vec::with_capacity(ranks_file.len() / 12);
    let mut ranks = Vec::new();
    for (number, line) in entry_lines(ranks_file) {
        let mut fields = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
        let (Some(token), Some(rank), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(BpeError::BadLine(number));
        };
        let rank: Rank = std::str::from_utf8(rank)
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r| r != NONE)
            .ok_or(BpeError::BadLine(number))?;
        let start = arena.len();
        b64.decode_vec(token, &mut arena).map_err(|_| BpeError::BadLine(number))?;
        if arena.len() == start {
            return Err(BpeError::EmptyToken(number));
        }
        if !ranks.is_empty() || rank as usize != starts.len() {
            if ranks.is_empty() {
                ranks.extend(0..starts.len() as Rank);
            }
            ranks.push(rank);
        }
        starts.push(u32::try_from(start).map_err(|_| BpeError::BadLine(number))?);
    }
    starts.push(u32::try_from(arena.len()).map_err(|_| BpeError::BadLine(entry_lines(ranks_file).count()))?);
    Ok(Parsed { arena, starts, ranks })
}

/// The arena and offsets in rank order, for a file whose ranks are not 0, 1, 2, ... in order.
fn by_rank(parsed: &Parsed, max_rank: Rank) -> Result<(Vec<u8>, Vec<u32>), BpeError> {
    let Parsed { arena: raw, starts, ranks } = parsed;
    let mut order: Vec<u32> = (0..ranks.len() as u32).collect();
    order.sort_unstable_by_key(|&k| ranks[k as usize]);
    if let Some(pair) = order.windows(2).find(|pair| ranks[pair[0] as usize] == ranks[pair[1] as usize]) {
        return Err(BpeError::DuplicateRank(ranks[pair[0] as usize]));
    }
    let mut arena = Vec::with_capacity(raw.len());
    let mut offsets = Vec::with_capacity(max_rank as usize + 2);
    let mut next = order.iter().map(|&k| k as usize).peekable();
    for rank in 0..=max_rank {
        offsets.push(arena.len() as u32);
        if let Some(k) = next.next_if(|&k| ranks[k] == rank) {
            arena.extend_from_slice(&raw[starts[k] as usize..starts[k + 1] as usize]);
        }
    }
    offsets.push(arena.len() as u32);
    Ok((arena, offsets))
}

impl Encoding {
    /// `ranks_file`: a `.tiktoken` file (`<base64 token bytes> <rank>` lines); `pattern`: tiktoken's `_pat_str`.
    pub fn new(ranks_file: &[u8], pattern: &str) -> Result<Self, BpeError> {
        let splitter = Splitter::new(pattern).map_err(BpeError::Pattern)?;
        let parsed = parse(ranks_file)?;
        let tokens = parsed.tokens();
        let max_rank = (0..tokens).map(|k| parsed.rank(k)).max().unwrap_or(0);
        if max_rank as usize >= MAX_GAP_FACTOR * tokens + 256 {
            return Err(BpeError::SparseRanks { max_rank, tokens });
        }
        // tiktoken's files list ranks 0, 1, 2, ...: then the file's order is the rank order, used as it is.
        let (arena, offsets, ranks) = if parsed.in_order() {
            (parsed.arena, parsed.starts, Vec::new())
        } else {
            let (arena, offsets) = by_rank(&parsed, max_rank)?;
            (arena, offsets, parsed.ranks)
        };

        let slots = (tokens * 2).next_power_of_two().max(16);
        let mut encoding = Encoding {
            arena: arena.into_boxed_slice(),
            offsets: offsets.into_boxed_slice(),
            table: vec![NONE; slots].into_boxed_slice(),
            shift: 64 - slots.trailing_zeros(),
            tokens,
            splitter,
            pattern: pattern.into(),
        };
        // Insert in file order, so a duplicate is reported at its second line.
        for k in 0..tokens {
            let rank = ranks.get(k).copied().unwrap_or(k as Rank);
            if !encoding.insert(rank) {
                let line = entry_lines(ranks_file).nth(k).map_or(0, |(number, _)| number);
                return Err(BpeError::DuplicateToken(line));
            }
        }
        for byte in 0..=255u8 {
            if encoding.rank_of(&[byte]).is_none() {
                return Err(BpeError::MissingByte(byte));
            }
        }
        Ok(encoding)
    }

    /// `new` over the file at `path`, mapped rather than read: building then needs no copy of the file on the heap
    /// (which the allocator would keep after the build). The cache files are replaced atomically, never rewritten
    /// in place, so the mapping does not change under us.
    pub fn from_path(path: &Path, pattern: &str) -> Result<Self, BpeError> {
        let io = |err: std::io::Error| BpeError::Io { kind: err.kind(), detail: format!("{}: {err}", path.display()) };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Encoding::new(b"", pattern);
        }
        // SAFETY: read-only map of a file nobody writes in place (see above); dropped before returning.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Encoding::new(&map, pattern)
    }

    fn slot(&self, bytes: &[u8]) -> usize {
        (hash(bytes) >> self.shift) as usize
    }

    /// False if a token with the same bytes is already there.
    fn insert(&mut self, rank: Rank) -> bool {
        let bytes = self.token_bytes(rank);
        let mask = self.table.len() - 1;
        let mut slot = self.slot(bytes);
        loop {
            match self.table[slot] {
                NONE => break,
                other if self.token_bytes(other) == bytes => return false,
                _ => slot = (slot + 1) & mask,
            }
        }
        self.table[slot] = rank;
        true
    }

    fn rank_of(&self, bytes: &[u8]) -> Option<Rank> {
        let mask = self.table.len() - 1;
        let mut slot = self.slot(bytes);
        loop {
            match self.table[slot] {
                NONE => return None,
                rank if same_bytes(self.token_bytes(rank), bytes) => return Some(rank),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    fn merge_rank(&self, bytes: &[u8]) -> Rank {
        self.rank_of(bytes).unwrap_or(NONE)
    }

    /// tiktoken's `_byte_pair_merge`: leaves in `parts` the start of each final token, then `piece.len()`.
    /// `parts[i].1` is the rank of merging part i with part i + 1 (`NONE` when that is not a token).
    /// Quadratic in the piece's length; pieces are words, numbers and punctuation runs, so a long one is unusual
    /// but a client can send it (64 KiB of letters: 1.5 s), and the front counts prompts on its one thread: past
    /// `LONG_PIECE` bytes the same merges are found with a heap instead (`merge_long`).
    fn merge(&self, piece: &[u8], parts: &mut Vec<(usize, Rank)>) {
        if piece.len() > LONG_PIECE {
            self.merge_long(piece, parts);
            return;
        }
        parts.clear();
        for i in 0..piece.len() - 1 {
            parts.push((i, self.merge_rank(&piece[i..i + 2])));
        }
        parts.push((piece.len() - 1, NONE));
        parts.push((piece.len(), NONE));
        loop {
            let mut best = (NONE, 0);
            for (i, &(_, rank)) in parts[..parts.len() - 1].iter().enumerate() {
                if rank < best.0 {
                    best = (rank, i);
                }
            }
            let (rank, i) = best;
            if rank == NONE {
                break;
            }
            // Part i absorbs part i + 1: the pairs that now end at, and start with, the merged part change rank.
            // (The lowest rank's part i is never one of the two last entries, so i + 2 is in bounds.)
            if i > 0 {
                parts[i - 1].1 = self.merge_rank(&piece[parts[i - 1].0..parts[i + 2].0]);
            }
            parts[i].1 = match parts.get(i + 3) {
                Some(&(end, _)) => self.merge_rank(&piece[parts[i].0..end]),
                None => NONE,
            };
            parts.remove(i + 1);
        }
    }

    /// `merge`'s result in O(n log n): the parts as a linked list over their start offsets, and a min-heap of
    /// (rank, start) of the adjacent pairs, so that the pair popped is the lowest-ranked and, on a tie, the leftmost,
    /// as `merge`'s scan picks it. An entry is stale once its part is gone or its pair changed rank (a pair that
    /// grows spans other bytes, so it never keeps its rank); stale entries are skipped as they come up.
    fn merge_long(&self, piece: &[u8], parts: &mut Vec<(usize, Rank)>) {
        let n = piece.len();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let pair_rank = |start: usize, next: &[usize]| match next[start] {
            end if end >= n => NONE,
            mid => self.merge_rank(&piece[start..next.get(mid).copied().unwrap_or(n)]),
        };
        let mut rank: Vec<Rank> = (0..n).map(|i| pair_rank(i, &next)).collect();
        let mut heap: BinaryHeap<Reverse<(Rank, usize)>> =
            (0..n).filter(|&i| rank[i] != NONE).map(|i| Reverse((rank[i], i))).collect();
        while let Some(Reverse((r, start))) = heap.pop() {
            if !alive[start] || rank[start] != r {
                continue;
            }
            let gone = next[start];
            alive[gone] = false;
            next[start] = next[gone];
            if next[start] < n {
                prev[next[start]] = start;
            }
            rank[start] = pair_rank(start, &next);
            if rank[start] != NONE {
                heap.push(Reverse((rank[start], start)));
            }
            let before = prev[start];
            if before < n {
                rank[before] = pair_rank(before, &next);
                if rank[before] != NONE {
                    heap.push(Reverse((rank[before], before)));
                }
            }
        }
        parts.clear();
        let mut at = 0;
        while at < n {
            parts.push((at, rank[at]));
            at = next[at];
        }
        parts.push((n, NONE));
    }

    /// The tokens of one piece of the split, appended to `out`.
    fn encode_piece(&self, piece: &[u8], parts: &mut Vec<(usize, Rank)>, out: &mut Vec<u32>) {
        if let Some(rank) = self.rank_of(piece) {
            out.push(rank);
            return;
        }
        self.merge(piece, parts);
        for pair in parts.windows(2) {
            out.push(self.rank_of(&piece[pair[0].0..pair[1].0]).expect("every merged part is a token"));
        }
    }

    fn count_piece(&self, piece: &[u8], parts: &mut Vec<(usize, Rank)>) -> usize {
        if self.rank_of(piece).is_some() {
            return 1;
        }
        self.merge(piece, parts);
        parts.len() - 1
    }

    /// == tiktoken `Encoding.encode_ordinary(text)`.
    pub fn encode_ordinary(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        let mut parts = Vec::new();
        self.splitter.for_each(text, |piece| self.encode_piece(piece, &mut parts, &mut out));
        out
    }

    /// == `len(encode_ordinary(text))`, without building the token list.
    pub fn count_ordinary(&self, text: &str) -> usize {
        let mut count = 0;
        let mut parts = Vec::new();
        self.splitter.for_each(text, |piece| count += self.count_piece(piece, &mut parts));
        count
    }

    /// == tiktoken `decode_single_token_bytes(token)` for a token of the file; an empty slice for any other id
    /// (no token is empty, so that tells the two apart; tiktoken raises KeyError there).
    pub fn token_bytes(&self, token: u32) -> &[u8] {
        let token = token as usize;
        match (self.offsets.get(token), self.offsets.get(token + 1)) {
            (Some(&start), Some(&end)) => &self.arena[start as usize..end as usize],
            _ => &[],
        }
    }

    /// True if `token` is a rank of the file (`token_bytes` is then non-empty).
    pub fn has_token(&self, token: u32) -> bool {
        !self.token_bytes(token).is_empty()
    }

    /// == tiktoken `decode_bytes(tokens)` when every id is a token; unknown ids add nothing.
    pub fn decode_bytes(&self, tokens: &[u32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(tokens.len() * 4);
        for &token in tokens {
            out.extend_from_slice(self.token_bytes(token));
        }
        out
    }

    /// Number of tokens in the file.
    pub fn vocab_size(&self) -> usize {
        self.tokens
    }
}

impl fmt::Debug for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoding").field("tokens", &self.vocab_size()).field("pattern", &self.pattern).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::split::{CL100K as CL100K_PATTERN, O200K as O200K_PATTERN};
    /// Words and runs of spaces: enough to test the merge on whole pieces.
    const WORDS: &str = r"\S+|\s+";

    /// A ranks file: the 256 bytes as ranks 0..=255, then `merged` from rank 256 on.
    fn ranks_file(merged: &[&[u8]]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = Vec::new();
        let bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for (rank, token) in bytes.iter().map(Vec::as_slice).chain(merged.iter().copied()).enumerate() {
            out.extend_from_slice(format!("{} {rank}\n", b64.encode(token)).as_bytes());
        }
        out
    }

    fn small(merged: &[&[u8]]) -> Encoding {
        Encoding::new(&ranks_file(merged), WORDS).unwrap()
    }

    fn texts(enc: &Encoding, tokens: &[u32]) -> Vec<String> {
        tokens.iter().map(|&t| String::from_utf8_lossy(enc.token_bytes(t)).into_owned()).collect()
    }

    /// The merge as tiktoken's educational `bpe_encode` states it: list of parts, merge the lowest-ranked pair.
    fn reference(enc: &Encoding, piece: &[u8]) -> Vec<u32> {
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let mut best: Option<(Rank, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let joined = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
                if let Some(rank) = enc.rank_of(&joined) {
                    if best.is_none_or(|(r, _)| rank < r) {
                        best = Some((rank, i));
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        parts.iter().map(|p| enc.rank_of(p).unwrap()).collect()
    }

    #[test]
    fn the_tail_word_is_the_zero_padded_little_endian_load() {
        let bytes = b"abcdefgh";
        for n in 0..=8 {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(tail_word(&bytes[..n]), u64::from_le_bytes(padded), "{n}");
        }
    }

    #[test]
    fn a_whole_piece_that_is_a_token_is_one_token() {
        let enc = small(&[b"ab", b"bc", b"abc"]);
        assert_eq!(enc.encode_ordinary("abc"), vec![258]);
        assert_eq!(enc.count_ordinary("abc abc"), 3);
    }

    #[test]
    fn the_lowest_ranked_pair_merges_first_wherever_it_is() {
        let enc = small(&[b"cd", b"bc", b"ab"]);
        // "cd" (256) beats "bc" (257) and "ab" (258): a b|cd -> ab|cd
        assert_eq!(texts(&enc, &enc.encode_ordinary("abcd")), ["ab", "cd"]);
        let enc = small(&[b"bc", b"ab", b"cd"]);
        assert_eq!(texts(&enc, &enc.encode_ordinary("abcd")), ["a", "bc", "d"]);
    }

    #[test]
    fn on_a_tie_the_leftmost_pair_merges() {
        let enc = small(&[b"aa"]);
        assert_eq!(texts(&enc, &enc.encode_ordinary("aaa")), ["aa", "a"]);
        assert_eq!(texts(&enc, &enc.encode_ordinary("aaaaa")), ["aa", "aa", "a"]);
    }

    #[test]
    fn merges_build_on_merged_parts_on_both_sides() {
        let enc = small(&[b"bc", b"abc", b"de", b"abcde"]);
        assert_eq!(texts(&enc, &enc.encode_ordinary("abcdef")), ["abcde", "f"]);
    }

    /// Merges that overlap and build on each other, for pieces of a, b and c.
    const MERGED: [&[u8]; 14] =
        [b"ab", b"ba", b"aa", b"abc", b"ca", b"aab", b"bb", b"cab", b"abab", b"cc", b"bca", b"aaa", b"ac", b"bcab"];

    fn xorshift(state: &mut u64) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
    }

    #[test]
    fn the_merge_equals_the_plain_statement_of_bpe_on_many_pieces() {
        let enc = small(&MERGED);
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            xorshift(&mut state);
            let len = 1 + (state % 24) as usize;
            let piece: Vec<u8> = (0..len).map(|i| b"abc"[((state >> (i * 2 % 60)) % 3) as usize]).collect();
            let text = std::str::from_utf8(&piece).unwrap();
            let expected = if let Some(rank) = enc.rank_of(&piece) { vec![rank] } else { reference(&enc, &piece) };
            assert_eq!(enc.encode_ordinary(text), expected, "{text}");
            assert_eq!(enc.count_ordinary(text), expected.len(), "{text}");
        }
    }

    #[test]
    fn the_heap_merge_of_long_pieces_equals_the_scan() {
        let enc = small(&MERGED);
        let (mut scanned, mut heaped) = (Vec::new(), Vec::new());
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..400 {
            xorshift(&mut state);
            let len = 2 + (state % 700) as usize;
            let piece: Vec<u8> = (0..len)
                .map(|i| if round % 5 == 0 { b'a' } else { b"abc"[((state >> (i * 7 % 61)) % 3) as usize] })
                .collect();
            enc.merge_long(&piece, &mut heaped);
            // The scan, whatever the length (`merge` itself hands long pieces to the heap).
            scanned.clear();
            scanned.extend((0..piece.len()).map(|i| (i, NONE)));
            scanned.push((piece.len(), NONE));
            loop {
                let best = scanned
                    .windows(3)
                    .enumerate()
                    .filter_map(|(i, w)| enc.rank_of(&piece[w[0].0..w[2].0]).map(|r| (r, i)))
                    .min();
                let Some((_, i)) = best else { break };
                scanned.remove(i + 1);
            }
            let starts = |parts: &[(usize, Rank)]| parts.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(starts(&heaped), starts(&scanned), "{}", String::from_utf8_lossy(&piece));
        }
    }

    #[test]
    fn decoding_gives_back_the_text_bytes() {
        let enc = small(&[b"he", b"ll", b"hell", b"o ", "é".as_bytes()]);
        let text = "hello  héllo\n\t🙂";
        let tokens = enc.encode_ordinary(text);
        assert_eq!(enc.decode_bytes(&tokens), text.as_bytes());
        assert_eq!(enc.token_bytes(258), b"hell");
        assert_eq!(enc.token_bytes(260), "é".as_bytes());
        assert!(enc.has_token(260));
    }

    #[test]
    fn unknown_ids_have_no_bytes() {
        let enc = small(&[b"ab"]);
        assert_eq!(enc.token_bytes(257), b"");
        assert_eq!(enc.token_bytes(u32::MAX), b"");
        assert!(!enc.has_token(257));
        assert_eq!(enc.decode_bytes(&[97, 9999, 98]), b"ab");
    }

    #[test]
    fn an_empty_text_has_no_tokens() {
        let enc = small(&[]);
        assert!(enc.encode_ordinary("").is_empty());
        assert_eq!(enc.count_ordinary(""), 0);
    }

    #[test]
    fn ranks_may_come_in_any_order_and_with_gaps() {
        let mut file = ranks_file(&[]);
        file.extend_from_slice(b"YmM= 300\n\nYWI= 260\r\n"); // "bc" 300, "ab" 260
        let enc = Encoding::new(&file, WORDS).unwrap();
        assert_eq!(enc.encode_ordinary("abc"), vec![260, 99]);
        assert_eq!(enc.token_bytes(300), b"bc");
        assert_eq!(enc.token_bytes(280), b"");
        assert_eq!(enc.vocab_size(), 258);
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        let bad = |extra: &[u8]| {
            let mut file = ranks_file(&[]);
            file.extend_from_slice(extra);
            Encoding::new(&file, WORDS).unwrap_err()
        };
        assert_eq!(bad(b"YWI=\n"), BpeError::BadLine(257));
        assert_eq!(bad(b"YWI= x\n"), BpeError::BadLine(257));
        assert_eq!(bad(b"!!!! 256\n"), BpeError::BadLine(257));
        assert_eq!(bad(b"YWI= 256 7\n"), BpeError::BadLine(257));
        assert_eq!(bad(b" 256\n"), BpeError::BadLine(257));
        assert_eq!(bad(b"YQ== 256\n"), BpeError::DuplicateToken(257));
        assert_eq!(bad(b"YWI= 300\n\nYQ== 299\n"), BpeError::DuplicateToken(259));
        assert_eq!(bad(b"YWI= 255\n"), BpeError::DuplicateRank(255));
        assert!(matches!(bad(b"YWI= 99999\n"), BpeError::SparseRanks { max_rank: 99999, .. }));
        let missing = b"YQ== 0\n";
        assert_eq!(Encoding::new(missing, WORDS).unwrap_err(), BpeError::MissingByte(0));
        assert!(matches!(Encoding::new(&ranks_file(&[]), "(").unwrap_err(), BpeError::Pattern(_)));
        assert!(bad(b"YWI= 255\n").to_string().contains("255"));
    }

    #[test]
    fn a_file_is_read_from_its_path() {
        let dir = std::env::temp_dir().join(format!("sentra-bpe-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small.tiktoken");
        std::fs::write(&path, ranks_file(&[b"ab"])).unwrap();
        let enc = Encoding::from_path(&path, WORDS).unwrap();
        assert_eq!(enc.encode_ordinary("abc"), [256, 99]);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(Encoding::from_path(&path, WORDS).unwrap_err(), BpeError::MissingByte(0));
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = Encoding::from_path(&dir.join("none"), WORDS).unwrap_err();
        assert!(matches!(missing, BpeError::Io { kind: std::io::ErrorKind::NotFound, .. }), "{missing}");
    }

    #[test]
    fn an_encoding_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Encoding>();
        let enc = std::sync::Arc::new(small(&[b"ab"]));
        let other = std::sync::Arc::clone(&enc);
        let counted = std::thread::spawn(move || other.count_ordinary("ab ab")).join().unwrap();
        assert_eq!(counted, 3);
    }

    /// The packaged encoding, gunzipped by the system's gzip (the core has no inflater); None without gzip.
    fn packaged(name: &str, pattern: &str) -> Option<Encoding> {
        let path = format!("{}/../../python/sentra_openai/encodings/{name}.tiktoken.gz", env!("CARGO_MANIFEST_DIR"));
        let output = std::process::Command::new("gzip").arg("-dc").arg(path).output().ok()?;
        assert!(output.status.success(), "gzip: {}", String::from_utf8_lossy(&output.stderr));
        Some(Encoding::new(&output.stdout, pattern).unwrap())
    }

    #[test]
    fn the_real_encodings_give_tiktokens_tokens() {
        // Expected values: tiktoken 0.14.0's encode_ordinary.
        let text = "I'LL  don't 12345 \n\n  x";
        if let Some(enc) = packaged("cl100k_base", CL100K_PATTERN) {
            assert_eq!(enc.encode_ordinary("hello world"), [15339, 1917]);
            assert_eq!(enc.encode_ordinary(text), [40, 6, 4178, 220, 1541, 956, 220, 4513, 1774, 4815, 220, 865]);
            assert_eq!(enc.count_ordinary(text), 12);
            assert_eq!(enc.vocab_size(), 100_256);
        }
        if let Some(enc) = packaged("o200k_base", O200K_PATTERN) {
            assert_eq!(enc.encode_ordinary("hello world"), [24912, 2375]);
            assert_eq!(enc.encode_ordinary(text), [40, 6, 7454, 220, 4128, 220, 7633, 2548, 1202, 220, 1215]);
            assert_eq!(enc.decode_bytes(&enc.encode_ordinary(text)), text.as_bytes());
            assert_eq!(enc.vocab_size(), 199_998);
        }
    }
}
