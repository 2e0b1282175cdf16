//! The kernels a plugin may call by name, with the arguments they take.
//! Each runs an arrow-rs kernel where arrow-rs has one; the few it lacks
//! (regular expressions with size limits, case, trim, hashing, truncation)
//! are written on arrow's builders in the modules below.

mod args;
mod hash;
mod logic;
mod numeric;
mod regex;
mod strings;
mod temporal;

use arrow::array::ArrayRef;

pub(crate) use self::args::{Arg, Args, Scalar};
pub(crate) use self::regex::RegexCache;

/// Why a kernel refused or failed: the plugin gets this message.
pub(crate) type KernelResult = Result<ArrayRef, String>;

/// What a kernel may use besides its arguments.
pub(crate) struct Context<'a> {
    /// Compiled regular expressions of this instance, by pattern.
    pub regexes: &'a mut RegexCache,
}

/// Every kernel name, for `docs/contract.md` and the error that lists them.
pub const NAMES: &[&str] = &[
    // strings
    "utf8_length",
    "binary_length",
    "utf8_lower",
    "utf8_upper",
    "utf8_trim_whitespace",
    "utf8_ltrim_whitespace",
    "utf8_rtrim_whitespace",
    "utf8_trim",
    "starts_with",
    "ends_with",
    "match_substring",
    "find_substring",
    "count_substring",
    "utf8_slice_codeunits",
    "split_pattern",
    "replace_substring",
    "binary_join_element_wise",
    // regular expressions
    "match_substring_regex",
    "find_substring_regex",
    "count_substring_regex",
    "extract_regex",
    "replace_substring_regex",
    "split_pattern_regex",
    // arithmetic and comparisons
    "add",
    "add_checked",
    "subtract",
    "subtract_checked",
    "multiply",
    "multiply_checked",
    "divide",
    "remainder",
    "negate",
    "abs",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "min_element_wise",
    "max_element_wise",
    // casts
    "cast",
    // temporal
    "year",
    "quarter",
    "month",
    "day",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "second",
    "millisecond",
    "microsecond",
    "nanosecond",
    "floor_temporal",
    // logic and nulls
    "and",
    "or",
    "and_kleene",
    "or_kleene",
    "xor",
    "invert",
    "is_null",
    "is_valid",
    "fill_null",
    "coalesce",
    "if_else",
    // selection
    "filter",
    "take",
    // hashing
    "hash_64",
    "sha256",
];

/// Runs kernel `name`. Column arguments are checked to have one length first,
/// but for `take`, whose indices may be of any length.
pub(crate) fn run(name: &str, args: &Args, cx: &mut Context<'_>) -> KernelResult {
    if name != "take" {
        args.same_length(name)?;
    }
    match name {
        "utf8_length" => strings::utf8_length(args),
        "binary_length" => strings::binary_length(args),
        "utf8_lower" => strings::map_str(args, strings::lower),
        "utf8_upper" => strings::map_str(args, strings::upper),
        "utf8_trim_whitespace" => strings::map_str(args, |s, out| out.push_str(s.trim())),
        "utf8_ltrim_whitespace" => strings::map_str(args, |s, out| out.push_str(s.trim_start())),
        "utf8_rtrim_whitespace" => strings::map_str(args, |s, out| out.push_str(s.trim_end())),
        "utf8_trim" => strings::trim(args),
        "starts_with" => strings::predicate(args, arrow::compute::kernels::comparison::starts_with),
        "ends_with" => strings::predicate(args, arrow::compute::kernels::comparison::ends_with),
        "match_substring" => strings::predicate(args, arrow::compute::kernels::comparison::contains),
        "find_substring" => strings::find(args),
        "count_substring" => strings::count(args),
        "utf8_slice_codeunits" => strings::slice(args),
        "split_pattern" => strings::split(args),
        "replace_substring" => strings::replace(args),
        "binary_join_element_wise" => strings::join(args),
        "match_substring_regex" => regex::is_match(args, cx),
        "find_substring_regex" => regex::find(args, cx),
        "count_substring_regex" => regex::count(args, cx),
        "extract_regex" => regex::extract(args, cx),
        "replace_substring_regex" => regex::replace(args, cx),
        "split_pattern_regex" => regex::split(args, cx),
        "add" | "add_checked" | "subtract" | "subtract_checked" | "multiply" | "multiply_checked" | "divide"
        | "remainder" => numeric::arithmetic(name, args),
        "negate" => numeric::negate(args),
        "abs" => numeric::abs(args),
        "equal" | "not_equal" | "less" | "less_equal" | "greater" | "greater_equal" => numeric::compare(name, args),
        "min_element_wise" | "max_element_wise" => numeric::extreme(name, args),
        "cast" => numeric::cast(args),
        "year" | "quarter" | "month" | "day" | "day_of_week" | "day_of_year" | "hour" | "minute" | "second"
        | "millisecond" | "microsecond" | "nanosecond" => temporal::part(name, args),
        "floor_temporal" => temporal::floor(args),
        "and" | "or" | "and_kleene" | "or_kleene" | "xor" => logic::boolean(name, args),
        "invert" => logic::invert(args),
        "is_null" => logic::is_null(args, false),
        "is_valid" => logic::is_null(args, true),
        "fill_null" | "coalesce" => logic::coalesce(args),
        "if_else" => logic::if_else(args),
        "filter" => logic::filter(args),
        "take" => logic::take(args),
        "hash_64" => hash::hash_64(args),
        "sha256" => hash::sha256(args),
        _ => Err(format!("there is no kernel `{name}`; the kernels are: {}", NAMES.join(", "))),
    }
}

/// Says an arrow error in the words of the kernel that hit it.
pub(crate) fn arrow_error(e: arrow::error::ArrowError) -> String {
    e.to_string()
}
