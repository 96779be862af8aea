//! Exact cost arithmetic in integer picodollars (10^-12 USD).
//!
//! The model catalog gives prices as USD per 1M tokens with at most 6 decimals ("2.50", "0.005"), which are
//! whole micro-dollars (10^-6 USD) per 1M tokens. A token therefore costs `price_micro` x 10^-12 USD, so
//! `tokens x price_micro` is already a picodollar amount: no division, no rounding, no binary floats.
//! Formula (OpenAI billing, see shared/reference/tokens-pricing.md "Pointers"):
//! `(prompt - cached) x input + cached x cached_input + completion x output`.
//!
//! `u64 x u64` always fits in `u128`; the sums and the per-image factor use checked arithmetic, so absurd
//! inputs give [`CostError::Overflow`] instead of a wrong number or a panic.

use std::fmt;

/// Picodollars in one USD.
pub const PICO_PER_USD: u128 = 1_000_000_000_000;
/// Picodollars in one micro-dollar: a per-image price in micro-dollars is scaled by this.
pub const PICO_PER_MICRO: u128 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostError {
    /// More cached tokens than prompt tokens: the caller mixed up two usage fields.
    CachedExceedsPrompt { cached: u64, prompt: u64 },
    /// The result does not fit in 128 bits (only reachable with nonsensical inputs).
    Overflow,
}

impl fmt::Display for CostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostError::CachedExceedsPrompt { cached, prompt } => {
                write!(f, "cached_tokens ({cached}) must not exceed prompt_tokens ({prompt})")
            }
            CostError::Overflow => write!(f, "cost does not fit in 128 bits"),
        }
    }
}

impl std::error::Error for CostError {}

/// Cost of one text request in picodollars. `cached_micro` is the cached-input price; a model without a
/// cached price is billed at the input price, which the caller passes here.
pub fn cost_picodollars(
    prompt_tokens: u64,
    cached_tokens: u64,
    completion_tokens: u64,
    input_micro: u64,
    cached_micro: u64,
    output_micro: u64,
) -> Result<u128, CostError> {
    if cached_tokens > prompt_tokens {
        return Err(CostError::CachedExceedsPrompt { cached: cached_tokens, prompt: prompt_tokens });
    }
    let uncached = u128::from(prompt_tokens - cached_tokens) * u128::from(input_micro);
    let cached = u128::from(cached_tokens) * u128::from(cached_micro);
    let completion = u128::from(completion_tokens) * u128::from(output_micro);
    uncached.checked_add(cached).and_then(|sum| sum.checked_add(completion)).ok_or(CostError::Overflow)
}

/// Cost of `n_images` images at `price_micro` micro-dollars each, in picodollars.
pub fn image_cost_picodollars(n_images: u64, price_micro: u64) -> Result<u128, CostError> {
    (u128::from(n_images) * u128::from(price_micro)).checked_mul(PICO_PER_MICRO).ok_or(CostError::Overflow)
}

/// Exact decimal USD with the fewest digits: `0`, `0.0000025`, `0.04`, `1`, `1234.567890123456`.
/// This is the `X-Sentra-Cost-USD` header value, so it must parse back to the exact amount.
pub fn format_usd(picodollars: u128) -> String {
    let whole = picodollars / PICO_PER_USD;
    let frac = picodollars % PICO_PER_USD;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:012}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_4o_request_matches_hand_computed_bill() {
        // gpt-4o: $2.50 in, $1.25 cached, $10.00 out per 1M tokens (tokens-pricing.md §3).
        // 1000 prompt (200 cached) + 500 completion = 800*2.5e-6 + 200*1.25e-6 + 500*1e-5 = $0.00725
        let pico = cost_picodollars(1000, 200, 500, 2_500_000, 1_250_000, 10_000_000).unwrap();
        assert_eq!(format_usd(pico), "0.00725");
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cached_price_only() {
        let all_cached = cost_picodollars(100, 100, 0, 7, 3, 11).unwrap();
        assert_eq!(all_cached, 300);
        let none_cached = cost_picodollars(100, 0, 0, 7, 3, 11).unwrap();
        assert_eq!(none_cached, 700);
    }

    #[test]
    fn more_cached_than_prompt_is_an_error() {
        assert_eq!(cost_picodollars(5, 6, 0, 1, 1, 1), Err(CostError::CachedExceedsPrompt { cached: 6, prompt: 5 }));
    }

    #[test]
    fn largest_token_counts_do_not_overflow() {
        let max = u64::MAX;
        // Each product fits in u128 but three of them do not: reported, not wrapped.
        assert_eq!(cost_picodollars(max, 0, max, max, max, max), Err(CostError::Overflow));
        let one_product = cost_picodollars(max, 0, 0, max, 0, 0).unwrap();
        assert_eq!(one_product, u128::from(max) * u128::from(max));
    }

    #[test]
    fn image_price_scales_micro_to_pico() {
        // dall-e-3 standard 1024x1024 is $0.04 per image (tokens-pricing.md §3).
        assert_eq!(format_usd(image_cost_picodollars(3, 40_000).unwrap()), "0.12");
        assert_eq!(image_cost_picodollars(u64::MAX, u64::MAX), Err(CostError::Overflow));
    }

    #[test]
    fn format_uses_minimal_exact_digits() {
        assert_eq!(format_usd(0), "0");
        assert_eq!(format_usd(1), "0.000000000001");
        assert_eq!(format_usd(2_500_000), "0.0000025");
        assert_eq!(format_usd(40_000_000_000), "0.04");
        assert_eq!(format_usd(1_000_000_000_000), "1");
        assert_eq!(format_usd(10_000_000_000_000), "10");
        assert_eq!(format_usd(1_234_567_890_123_456), "1234.567890123456");
        assert_eq!(format_usd(u128::MAX), "340282366920938463463374607.431768211455");
    }
}
