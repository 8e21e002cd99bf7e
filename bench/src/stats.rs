//! Summaries of repeated measurements: median, min, max and spread, the same definitions as
//! `../shared/peers/bench.py` (spread = (max - min) / median) so our tables read like theirs.

/// Median and range of a set of rounds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// (max - min) / median, as a fraction (0.2 = 20%); 0 when the median is 0.
    pub spread: f64,
    /// Values summarised (NaN and infinities are left out).
    pub count: usize,
}

impl Summary {
    /// Summarise `values`, ignoring non-finite ones; `None` if none is left.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let (min, max) = (v[0], v[n - 1]);
        let spread = if median != 0.0 {
            (max - min) / median.abs()
        } else {
            0.0
        };
        Some(Summary {
            median,
            min,
            max,
            spread,
            count: n,
        })
    }
}

/// Median of `values` (non-finite ones ignored), NaN if none.
pub fn median(values: &[f64]) -> f64 {
    Summary::of(values).map_or(f64::NAN, |s| s.median)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn odd_even_and_empty() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.count), (2.0, 1.0, 3.0, 3));
        assert!((s.spread - 1.0).abs() < 1e-12);
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
        assert_eq!(Summary::of(&[0.0, 0.0]).unwrap().spread, 0.0);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    proptest! {
        #[test]
        fn median_is_within_range(v in proptest::collection::vec(-1e9f64..1e9, 1..40)) {
            let s = Summary::of(&v).unwrap();
            prop_assert!(s.min <= s.median && s.median <= s.max);
            prop_assert_eq!(s.count, v.len());
            prop_assert!(s.spread >= 0.0);
            // order does not matter
            let mut r = v.clone();
            r.reverse();
            prop_assert_eq!(Summary::of(&r).unwrap(), s);
        }
    }
}
