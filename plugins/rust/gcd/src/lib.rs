//! `gcd`: the greatest common divisor of int32 columns `a` and `b`, appended as `c`.

use quiver_sdk::{Plugin, scalar};

/// Greatest common divisor of a and b, by Euclid's loop.
#[scalar]
pub fn gcd(a: i32, b: i32) -> i32 {
    let (mut a, mut b) = (a, b);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The plugin: one scalar transform, `gcd`, writing column `c`.
pub fn plugin() -> Plugin {
    Plugin::new("gcd", env!("CARGO_PKG_VERSION"), "Greatest common divisor of two int32 columns")
        .scalar(gcd_scalar(), "c")
}

quiver_sdk::export!(plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euclid() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(7, 0), 7);
        assert_eq!(gcd(0, 0), 0);
        assert_eq!(gcd(-12, 18), 6);
        assert_eq!(gcd(12, -18), -6);
    }
}
