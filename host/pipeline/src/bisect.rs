//! Finding the rows a plugin fails on: a failing part is split in two and
//! each half tried, down to single rows. One poison row among `n` costs
//! about `2·log2(n)` calls; the rows that pass keep their order.

use std::ops::Range;

/// What bisection made of a failing range of rows.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<T, E> {
    /// Rows that passed, with what their call returned.
    Passed(Range<usize>, T),
    /// One row that fails on its own, with its error.
    Poison(usize, E),
}

/// Bisects `range`, whose call failed with `error`: `attempt` tries a part,
/// and answers `Ok(Ok(_))` for a part that passed, `Ok(Err(_))` for one
/// that failed (and is split further), or `Err(_)` to stop bisecting. The
/// pieces go to `out` in row order.
pub fn bisect<T, E, S>(
    range: Range<usize>,
    error: E,
    attempt: &mut impl FnMut(Range<usize>) -> Result<Result<T, E>, S>,
    out: &mut Vec<Piece<T, E>>,
) -> Result<(), S> {
    match range.len() {
        0 => return Ok(()),
        1 => {
            out.push(Piece::Poison(range.start, error));
            return Ok(());
        }
        _ => {}
    }
    let middle = range.start + range.len() / 2;
    for half in [range.start..middle, middle..range.end] {
        match attempt(half.clone())? {
            Ok(passed) => out.push(Piece::Passed(half, passed)),
            Err(error) => bisect(half, error, attempt, out)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bisects `0..rows` with a plugin that fails on any part holding a row
    /// of `poison`; returns the pieces and the number of calls made.
    fn run(rows: usize, poison: &[usize]) -> (Vec<Piece<usize, String>>, usize) {
        let mut calls = 0;
        let mut attempt = |r: Range<usize>| -> Result<Result<usize, String>, ()> {
            calls += 1;
            Ok(match poison.iter().find(|p| r.contains(p)) {
                Some(p) => Err(format!("poison {p}")),
                None => Ok(r.len()),
            })
        };
        let mut out = Vec::new();
        bisect(0..rows, "whole batch".to_string(), &mut attempt, &mut out).unwrap();
        (out, calls)
    }

    /// The rows that passed, in order, and the poison rows found.
    fn rows_of(pieces: &[Piece<usize, String>]) -> (Vec<usize>, Vec<usize>) {
        let mut passed = Vec::new();
        let mut poison = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Passed(r, len) => {
                    assert_eq!(r.len(), *len, "a piece's output belongs to its own rows");
                    passed.extend(r.clone());
                }
                Piece::Poison(row, _) => poison.push(*row),
            }
        }
        (passed, poison)
    }

    #[test]
    fn one_poison_row_costs_two_calls_per_halving_and_only_it_is_lost() {
        let (pieces, calls) = run(65_536, &[40_961]);
        let (passed, poison) = rows_of(&pieces);
        assert_eq!(poison, vec![40_961]);
        assert_eq!(passed, (0..65_536).filter(|&r| r != 40_961).collect::<Vec<_>>(), "every other row, in order");
        assert_eq!(calls, 2 * 16, "two halves tried at each of log2(65536) levels");
        let error = pieces.iter().find_map(|p| match p {
            Piece::Poison(_, e) => Some(e.as_str()),
            Piece::Passed(..) => None,
        });
        assert_eq!(error, Some("poison 40961"), "the poison row keeps its own call's error");
    }

    #[test]
    fn several_poison_rows_are_each_found() {
        let (pieces, _) = run(1000, &[0, 1, 500, 999]);
        let (passed, poison) = rows_of(&pieces);
        assert_eq!(poison, vec![0, 1, 500, 999]);
        assert_eq!(passed.len(), 996);
        assert!(passed.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_plugin_failing_on_every_row_makes_every_row_poison() {
        let (pieces, calls) = run(8, &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(rows_of(&pieces).1, (0..8).collect::<Vec<_>>());
        assert_eq!(calls, 14, "every part of the tree but the root");
    }

    #[test]
    fn one_row_and_no_rows_need_no_calls() {
        assert_eq!(run(1, &[0]), (vec![Piece::Poison(0, "whole batch".into())], 0));
        assert_eq!(run(0, &[]), (vec![], 0));
    }

    #[test]
    fn a_stop_ends_the_bisection_at_once() {
        let mut calls = 0;
        let mut attempt = |_: Range<usize>| -> Result<Result<(), ()>, &str> {
            calls += 1;
            if calls == 3 { Err("breaker open") } else { Ok(Err(())) }
        };
        let mut out = Vec::new();
        assert_eq!(bisect(0..64, (), &mut attempt, &mut out), Err("breaker open"));
        assert_eq!(calls, 3);
    }
}
