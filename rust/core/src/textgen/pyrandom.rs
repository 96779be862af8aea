//! CPython 3.11's `random.Random`, bit for bit: the same seed gives the same draws.
//!
//! Sources (the algorithms are CPython's, the code is written here):
//! * `Modules/_randommodule.c`: MT19937 (`genrand_uint32`, `init_genrand`, `init_by_array`, Matsumoto and
//!   Nishimura's reference generator), `random_seed` (an int seed is `abs(n)` split into 32-bit words, least
//!   significant first, `[0]` for 0, given to `init_by_array`), `random_random` (53 bits from two words:
//!   `(a >> 5) * 2**26 + (b >> 6)`, over `2**53`), `getrandbits` (k <= 32: one word `>> (32 - k)`; more: words
//!   filled least significant first, the last one shifted right to keep its top bits), `getstate`/`setstate`.
//! * `Lib/random.py`: `seed` version 2 (a str `s` becomes `int.from_bytes(s.encode() + sha512(s.encode()).digest(),
//!   "big")`), `_randbelow_with_getrandbits` (draw `n.bit_length()` bits until below `n`), `randrange(stop)`,
//!   `randint`, `choice`, `shuffle`, `normalvariate` (Kinderman and Monahan's ratio of uniforms, with
//!   `u2 = 1.0 - random()`), `lognormvariate` (`exp(normalvariate)`).
//!
//! `f64::ln` and `f64::exp` call the platform libm, as CPython's `math.log` and `math.exp` do, so the float draws
//! agree to the last bit with the CPython of the same machine.
//!
//! Speed: one generator is seeded per request, so seeding allocates nothing for keys up to `STACK_KEY_WORDS`
//! words (a str seed of up to 448 UTF-8 bytes), and no draw allocates except [`PyRandom::getrandbits_words`].
use sha2::{Digest, Sha512};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// `random.NV_MAGICCONST` = `4 * exp(-0.5) / sqrt(2.0)`, as CPython computes it (0x1.b72cd3f331398p+0); a
/// constant, so the value does not depend on the libm the tests run with.
const NV_MAGICCONST: f64 = f64::from_bits(0x3ffb_72cd_3f33_1398);

/// Keys of up to this many words are built on the stack.
const STACK_KEY_WORDS: usize = 128;

/// The SHA-512 digest that `random.seed` appends to a str seed's UTF-8 bytes.
const DIGEST_BYTES: usize = 64;

#[derive(Clone)]
pub struct PyRandom {
    mt: [u32; N],
    /// The next word of `mt` to temper; `N` means the words must be regenerated first.
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom").field("index", &self.index).finish_non_exhaustive()
    }
}

impl PyRandom {
    /// `random.Random(seed)` for a str `seed` (seed version 2).
    pub fn from_str_seed(seed: &str) -> Self {
        let text = seed.as_bytes();
        let digest = Sha512::digest(text);
        let total = text.len() + DIGEST_BYTES;
        let byte_at = |i: usize| if i < text.len() { text[i] } else { digest[i - text.len()] };
        // int.from_bytes drops leading zero bytes, and the key has as many words as the int needs. The digest
        // could be all zeros only by a SHA-512 preimage, but then the int is 0 and its key is [0], as for an int.
        let first = (0..total).find(|&i| byte_at(i) != 0).unwrap_or(total);
        let key_len = (total - first).div_ceil(4).max(1);
        // Word j (least significant first) is the big-endian bytes ending 4 * j bytes before the end.
        let word = |j: usize| {
            let end = total - 4 * j;
            (end.saturating_sub(4).max(first)..end).fold(0u32, |acc, i| (acc << 8) | u32::from(byte_at(i)))
        };
        if key_len <= STACK_KEY_WORDS {
            let mut key = [0u32; STACK_KEY_WORDS];
            for (j, slot) in key[..key_len].iter_mut().enumerate() {
                *slot = word(j);
            }
            Self::from_key(&key[..key_len])
        } else {
            let key: Vec<u32> = (0..key_len).map(word).collect();
            Self::from_key(&key)
        }
    }

    /// `init_by_array(key)`. `random.Random(n)` for an int `n >= 0` is this with `n`'s 32-bit words, least
    /// significant first, without zero words above the top one (`[0]` for 0): a key with high zero words seeds
    /// differently. An empty key is taken as `[0]`.
    pub fn from_key(key: &[u32]) -> Self {
        let key = if key.is_empty() { &[0][..] } else { key };
        let mut mt = INIT_BY_ARRAY_START;
        // `prev` is mt[i - 1], kept in a register: each step waits on the one before, and a round trip through
        // memory would add a store-to-load forwarding delay to every step.
        let mut prev = mt[0];
        let mut i = 1;
        let mut j = 0;
        for _ in 0..N.max(key.len()) {
            prev = (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525)).wrapping_add(key[j].wrapping_add(j as u32));
            mt[i] = prev;
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = prev;
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            prev = (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            mt[i] = prev;
            i += 1;
            if i >= N {
                mt[0] = prev;
                i = 1;
            }
        }
        mt[0] = 0x8000_0000; // MSB is 1, assuring a non-zero initial array
        PyRandom { mt, index: N }
    }

    /// `random.Random(n)` for `0 <= n < 2**128`.
    pub fn from_u128(seed: u128) -> Self {
        let words = [seed as u32, (seed >> 32) as u32, (seed >> 64) as u32, (seed >> 96) as u32];
        let bits = 128 - seed.leading_zeros() as usize;
        Self::from_key(&words[..bits.div_ceil(32).max(1)])
    }

    /// The next tempered 32-bit output (`genrand_uint32`).
    #[inline]
    pub fn genrand_u32(&mut self) -> u32 {
        if self.index >= N {
            self.regenerate();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn regenerate(&mut self) {
        let mt = &mut self.mt;
        let twist = |upper: u32, lower: u32| {
            let y = (upper & UPPER_MASK) | (lower & LOWER_MASK);
            (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 }
        };
        for k in 0..N - M {
            mt[k] = mt[k + M] ^ twist(mt[k], mt[k + 1]);
        }
        for k in N - M..N - 1 {
            mt[k] = mt[k + M - N] ^ twist(mt[k], mt[k + 1]);
        }
        mt[N - 1] = mt[M - 1] ^ twist(mt[N - 1], mt[0]);
        self.index = 0;
    }

    /// `random()`: a float in [0, 1) with 53 random bits.
    #[inline]
    pub fn random(&mut self) -> f64 {
        let a = self.genrand_u32() >> 5;
        let b = self.genrand_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `getrandbits(k)` for `k <= 64` (panics above). `getrandbits(0)` is 0 and draws nothing.
    #[inline]
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        assert!(k <= 64, "getrandbits: k = {k} > 64, use getrandbits_words");
        match k {
            0 => 0,
            1..=32 => u64::from(self.genrand_u32() >> (32 - k)),
            _ => {
                let low = u64::from(self.genrand_u32());
                let high = u64::from(self.genrand_u32() >> (64 - k));
                (high << 32) | low
            }
        }
    }

    /// `getrandbits(k)` for any `k`: its 32-bit words, least significant first (`ceil(k / 32)` of them).
    pub fn getrandbits_words(&mut self, k: u32) -> Vec<u32> {
        let mut words = Vec::with_capacity(k.div_ceil(32) as usize);
        let mut left = k;
        while left > 0 {
            let word = self.genrand_u32();
            words.push(if left < 32 { word >> (32 - left) } else { word });
            left = left.saturating_sub(32);
        }
        words
    }

    /// `getrandbits(k)` for `k <= 128`.
    fn getrandbits_u128(&mut self, k: u32) -> u128 {
        let mut value = 0u128;
        let mut shift = 0;
        while shift < k {
            let left = k - shift;
            let word = self.genrand_u32();
            let word = if left < 32 { word >> (32 - left) } else { word };
            value |= u128::from(word) << shift;
            shift += 32;
        }
        value
    }

    /// `_randbelow_with_getrandbits(n)`: uniform in [0, n). Panics for `n == 0` (CPython loops forever).
    #[inline]
    pub fn randbelow(&mut self, n: u64) -> u64 {
        assert!(n >= 1, "randbelow(0)");
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    fn randbelow_u128(&mut self, n: u128) -> u128 {
        let k = 128 - n.leading_zeros();
        loop {
            let r = self.getrandbits_u128(k);
            if r < n {
                return r;
            }
        }
    }

    /// `randrange(stop)` for `stop >= 1` (panics for 0, where CPython raises ValueError).
    #[inline]
    pub fn randrange(&mut self, stop: u64) -> u64 {
        assert!(stop >= 1, "empty range for randrange()");
        self.randbelow(stop)
    }

    /// `randint(a, b)`, both ends included: `a + randbelow(b - a + 1)`. Panics if `a > b`.
    pub fn randint(&mut self, a: i64, b: i64) -> i64 {
        assert!(a <= b, "empty range for randint({a}, {b})");
        let width = (i128::from(b) - i128::from(a) + 1) as u128;
        let offset = if width <= u128::from(u64::MAX) {
            u128::from(self.randbelow(width as u64))
        } else {
            self.randbelow_u128(width)
        };
        (i128::from(a) + offset as i128) as i64
    }

    /// `choice(items)` for non-empty `items` (panics on empty, where CPython raises IndexError).
    #[inline]
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        assert!(!items.is_empty(), "Cannot choose from an empty sequence");
        &items[self.randbelow(items.len() as u64) as usize]
    }

    /// `shuffle(items)` in place: Fisher-Yates from the end, as `random.shuffle`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `normalvariate(mu, sigma)`.
    pub fn normalvariate(&mut self, mu: f64, sigma: f64) -> f64 {
        loop {
            let u1 = self.random();
            let u2 = 1.0 - self.random();
            let z = NV_MAGICCONST * (u1 - 0.5) / u2;
            let zz = z * z / 4.0;
            if zz <= -u2.ln() {
                return mu + z * sigma;
            }
        }
    }

    /// `lognormvariate(mu, sigma)`.
    pub fn lognormvariate(&mut self, mu: f64, sigma: f64) -> f64 {
        self.normalvariate(mu, sigma).exp()
    }

    /// The state as `getstate()[1]` holds it: the 624 words and the index (0..=624).
    pub fn state(&self) -> ([u32; N], usize) {
        (self.mt, self.index)
    }

    /// `setstate`: panics unless `index <= 624` (CPython raises ValueError "invalid state").
    pub fn set_state(&mut self, words: &[u32; N], index: usize) {
        assert!(index <= N, "invalid state: index {index} > {N}");
        self.mt = *words;
        self.index = index;
    }
}

/// `init_genrand(19650218)`, where every `init_by_array` starts: computed at compile time, it saves a third of the
/// seeding (each step of the three seeding loops waits on the one before, so none of them runs faster otherwise).
static INIT_BY_ARRAY_START: [u32; N] = init_genrand(19_650_218);

const fn init_genrand(seed: u32) -> [u32; N] {
    let mut mt = [0u32; N];
    mt[0] = seed;
    let mut i = 1;
    while i < N {
        mt[i] = 1_812_433_253u32.wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_add(i as u32);
        i += 1;
    }
    mt
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every expected value below was printed by CPython 3.11.7 (the script is in each test's comment).

    fn words(rng: &mut PyRandom, n: usize) -> Vec<u32> {
        (0..n).map(|_| rng.genrand_u32()).collect()
    }

    fn bits(x: f64) -> u64 {
        x.to_bits()
    }

    #[test]
    fn nv_magicconst_is_cpythons_formula() {
        assert_eq!(NV_MAGICCONST, 4.0 * (-0.5f64).exp() / 2.0f64.sqrt());
    }

    #[test]
    fn str_seed_draws_as_cpython() {
        // r = random.Random('abc'); r.random(), r.getrandbits(40), r.randrange(7)
        let mut rng = PyRandom::from_str_seed("abc");
        assert_eq!(bits(rng.random()), 0x3fe8b46cfff46349);
        assert_eq!(rng.getrandbits(40), 504908491826);
        assert_eq!(rng.randrange(7), 5);
    }

    #[test]
    fn empty_str_seed_hashes_the_empty_string() {
        // r = random.Random(''); [r.getrandbits(32) for _ in range(3)], r.random()
        let mut rng = PyRandom::from_str_seed("");
        assert_eq!(words(&mut rng, 3), [4124137760, 1951988028, 2557274880]);
        assert_eq!(bits(rng.random()), 0x3fca7b4446354bc4);
    }

    #[test]
    fn non_ascii_str_seed_uses_its_utf8_bytes() {
        let mut rng = PyRandom::from_str_seed("héllo wörld 😀");
        assert_eq!(words(&mut rng, 3), [865279253, 2203900922, 763839987]);
        assert_eq!(bits(rng.random()), 0x3f9ca13cba9ec2e0);
    }

    #[test]
    fn leading_nul_bytes_are_dropped_like_int_from_bytes() {
        // random.Random('\x00\x00\x00a'): the int has 3 bytes fewer, so the key has one word fewer.
        let mut rng = PyRandom::from_str_seed("\0\0\0a");
        assert_eq!(words(&mut rng, 3), [3841547916, 4158960448, 3959689711]);
    }

    #[test]
    fn long_str_seed_beyond_the_stack_key() {
        // random.Random('x' * 1000): 266 key words
        let mut rng = PyRandom::from_str_seed(&"x".repeat(1000));
        assert_eq!(words(&mut rng, 3), [701128487, 1147840036, 1316264337]);
    }

    #[test]
    fn int_seeds_as_cpython() {
        // r = random.Random(n); [r.getrandbits(32) for _ in range(3)]
        let cases: [(u128, [u32; 3]); 6] = [
            (0, [3626764237, 1654615998, 3255389356]),
            (1, [577090037, 2444712010, 3639700191]),
            (42, [2746317213, 478163327, 107420369]),
            (1 << 32, [485306839, 1508871100, 1794561286]),
            ((1 << 64) + 12345, [2632172, 2355889752, 3906953032]),
            ((1 << 127) + 3, [1905463819, 465218898, 2119653631]),
        ];
        for (seed, expected) in cases {
            assert_eq!(words(&mut PyRandom::from_u128(seed), 3), expected, "seed {seed}");
        }
        assert_eq!(words(&mut PyRandom::from_key(&[0]), 3), [3626764237, 1654615998, 3255389356]);
        assert_eq!(words(&mut PyRandom::from_key(&[12345, 0, 1]), 3), [2632172, 2355889752, 3906953032]);
        // random.Random(2**200 + 1)
        let mut rng = PyRandom::from_key(&[1, 0, 0, 0, 0, 0, 256]);
        assert_eq!(words(&mut rng, 3), [36002008, 3688391222, 3006604073]);
    }

    #[test]
    fn getrandbits_fills_words_least_significant_first() {
        // r = random.Random(7); [r.getrandbits(k) for k in (1, 31, 32, 33, 63, 64)], r.getrandbits(100)
        let mut rng = PyRandom::from_u128(7);
        let got: Vec<u64> = [1, 31, 32, 33, 63, 64].iter().map(|&k| rng.getrandbits(k)).collect();
        assert_eq!(got, [0, 2035525362, 647892279, 5990721294, 668106803327565776, 9885278224986867748]);
        // 0x9531985d5d9dc9f81818e811: the top word keeps 4 bits
        assert_eq!(rng.getrandbits_words(100), [0x1818e811, 0x5d9dc9f8, 0x9531985d, 0x0]);
        let before = rng.state();
        assert_eq!(rng.getrandbits(0), 0);
        assert!(rng.getrandbits_words(0).is_empty());
        assert_eq!(rng.state(), before, "getrandbits(0) draws nothing");
    }

    #[test]
    fn getrandbits_words_matches_getrandbits() {
        let (mut a, mut b) = (PyRandom::from_u128(3), PyRandom::from_u128(3));
        for k in 0..=64 {
            let w = a.getrandbits_words(k);
            let joined = w.iter().rev().fold(0u64, |acc, &x| (acc << 32) | u64::from(x));
            assert_eq!(joined, b.getrandbits(k), "k {k}");
        }
    }

    #[test]
    fn randbelow_edges_as_cpython() {
        // r = random.Random(9); [r._randbelow(n) for n in (1, 1, 2, 4, 2**32, 2**63, 2**64 - 1, 3, 5)], r.getrandbits(32)
        let mut rng = PyRandom::from_u128(9);
        let got: Vec<u64> = [1, 1, 2, 4, 1 << 32, 1 << 63, u64::MAX, 3, 5].iter().map(|&n| rng.randbelow(n)).collect();
        assert_eq!(got, [0, 0, 1, 1, 2906162014, 1490767169465453261, 10224485376903518434, 2, 0]);
        assert_eq!(rng.genrand_u32(), 3127561836, "the same number of words was drawn");
    }

    #[test]
    fn randint_as_cpython() {
        // r = random.Random(11); [r.randint(-5, 5) for _ in range(5)], r.randint(-2**63, 2**63 - 1), r.randint(3, 3)
        let mut rng = PyRandom::from_u128(11);
        let got: Vec<i64> = (0..5).map(|_| rng.randint(-5, 5)).collect();
        assert_eq!(got, [2, 3, 2, 2, 3]);
        assert_eq!(rng.randint(i64::MIN, i64::MAX), 1611965628600829264);
        assert_eq!(rng.randint(3, 3), 3);
        assert_eq!(rng.genrand_u32(), 3452725545);
    }

    #[test]
    fn choice_and_shuffle_as_cpython() {
        // r = random.Random(13); [r.choice('abcdefg') for _ in range(8)]
        let mut rng = PyRandom::from_u128(13);
        let letters: Vec<char> = "abcdefg".chars().collect();
        let got: String = (0..8).map(|_| *rng.choice(&letters)).collect();
        assert_eq!(got, "ccffggbf");
        // r = random.Random(17); l = list(range(10)); r.shuffle(l)
        let mut items: Vec<u32> = (0..10).collect();
        PyRandom::from_u128(17).shuffle(&mut items);
        assert_eq!(items, [7, 3, 0, 5, 1, 9, 2, 4, 6, 8]);
    }

    #[test]
    fn normal_and_lognormal_to_the_last_bit() {
        // r = random.Random('normal'); 5 x normalvariate(0.0, 1.0), 5 x lognormvariate(0.5, 0.25),
        // normalvariate(10.0, 3.5)
        let mut rng = PyRandom::from_str_seed("normal");
        let normal: Vec<u64> = (0..5).map(|_| bits(rng.normalvariate(0.0, 1.0))).collect();
        assert_eq!(
            normal,
            [0x3fc2899d26263cb9, 0xbfd6786ee0a79340, 0x3feb533933dbab99, 0xbfe3ee5409fdc199, 0xbfee4abc2f65911b]
        );
        let lognormal: Vec<u64> = (0..5).map(|_| bits(rng.lognormvariate(0.5, 0.25))).collect();
        assert_eq!(
            lognormal,
            [0x3ffb80424ee32fdc, 0x40026831966080a3, 0x4000b50983a63851, 0x3ff840a6be73c8b4, 0x3ffeae36e7bc4d6c]
        );
        assert_eq!(bits(rng.normalvariate(10.0, 3.5)), 0x40255d62906935ec);
    }

    #[test]
    fn state_as_getstate_and_restorable() {
        // r = random.Random(5); s = r.getstate()[1]; s[0], s[1], s[623], s[624]; then after r.random()
        let mut rng = PyRandom::from_u128(5);
        let (mt, index) = rng.state();
        assert_eq!((mt[0], mt[1], mt[623], index), (2147483648, 2796186638, 957143377, 624));
        rng.random();
        let (mt, index) = rng.state();
        assert_eq!((mt[0], mt[1], mt[623], index), (800844005, 2707223550, 2402479847, 2));
        let mut copy = PyRandom::from_u128(0);
        copy.set_state(&mt, index);
        assert_eq!(words(&mut copy, 700), words(&mut rng, 700));
    }

    #[test]
    #[should_panic(expected = "invalid state")]
    fn set_state_rejects_an_index_past_the_end() {
        PyRandom::from_u128(0).set_state(&[0; N], N + 1);
    }
}
