//! Regular-expression kernels on the `regex` crate, which runs in time
//! linear in the input. arrow-string compiles patterns without a size limit,
//! so the patterns are compiled here, under limits, and kept per instance.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, BooleanBuilder, Int32Builder, StringArray, StringBuilder};
use memchr::memmem::Finder;
use regex::{Regex, RegexBuilder};
use regex_automata::{Anchored, Input, meta};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use super::strings::utf8;
use super::{Args, Context, KernelResult};

/// The longest pattern a plugin may pass.
const MAX_PATTERN_BYTES: usize = 16 << 10;
/// The most a compiled program may take.
const MAX_PROGRAM_BYTES: usize = 2 << 20;
/// The most the lazy DFA may cache per pattern.
const MAX_DFA_BYTES: usize = 4 << 20;
/// Patterns kept compiled per instance; beyond them the cache starts again.
const CACHED_PATTERNS: usize = 64;

/// Compiled patterns, by their text.
#[derive(Default)]
pub(crate) struct RegexCache {
    compiled: HashMap<String, Regex>,
    groups: HashMap<String, Captures>,
}

impl RegexCache {
    fn get(&mut self, pattern: &str) -> Result<&Regex, String> {
        cached(&mut self.compiled, pattern, |pattern| {
            RegexBuilder::new(pattern)
                .size_limit(MAX_PROGRAM_BYTES)
                .dfa_size_limit(MAX_DFA_BYTES)
                .build()
                .map_err(|e| format!("bad pattern: {e}"))
        })
    }

    fn captures(&mut self, pattern: &str) -> Result<&Captures, String> {
        cached(&mut self.groups, pattern, Captures::new)
    }
}

/// `pattern` compiled by `compile`, once per instance while it stays among
/// the last [`CACHED_PATTERNS`]; a pattern over the length limit is refused
/// before any compiling.
fn cached<'m, T>(
    compiled: &'m mut HashMap<String, T>,
    pattern: &str,
    compile: impl FnOnce(&str) -> Result<T, String>,
) -> Result<&'m T, String> {
    if !compiled.contains_key(pattern) {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(format!(
                "the pattern is {} KiB, over the limit of {} KiB",
                pattern.len() >> 10,
                MAX_PATTERN_BYTES >> 10
            ));
        }
        let made = compile(pattern)?;
        if compiled.len() >= CACHED_PATTERNS {
            compiled.clear();
        }
        compiled.insert(pattern.to_owned(), made);
    }
    Ok(&compiled[pattern])
}

/// A pattern compiled for capture groups, with the literal every match
/// starts with, when there is one.
///
/// An unanchored search for groups scans the haystack three times: forward
/// to the match's end, backward to its start, and once more over the match
/// for the groups. When every match starts with a literal, the leftmost
/// match can only start at the literal's first occurrence, so one anchored
/// search from there finds the groups in one pass. That search failing, the
/// plain search follows, so the work stays linear in the value.
struct Captures {
    regex: meta::Regex,
    prefix: Option<Finder<'static>>,
}

/// What one kernel call's searches reuse: the engines' scratch space (kept
/// by the call, not taken from the regex's shared pool per value) and the slots.
struct Search {
    cache: meta::Cache,
    caps: regex_automata::util::captures::Captures,
}

impl Captures {
    fn search(&self) -> Search {
        Search { cache: self.regex.create_cache(), caps: self.regex.create_captures() }
    }

    fn new(pattern: &str) -> Result<Self, String> {
        let config = meta::Config::new().nfa_size_limit(Some(MAX_PROGRAM_BYTES)).hybrid_cache_capacity(MAX_DFA_BYTES);
        let regex = meta::Regex::builder().configure(config).build(pattern).map_err(|e| format!("bad pattern: {e}"))?;
        let hir = regex_syntax::Parser::new().parse(pattern).map_err(|e| format!("bad pattern: {e}"))?;
        let prefix = Extractor::new()
            .kind(ExtractKind::Prefix)
            .extract(&hir)
            .longest_common_prefix()
            .filter(|p| !p.is_empty())
            .map(|p| Finder::new(p).into_owned());
        Ok(Self { regex, prefix })
    }

    /// The span of group `group` of the leftmost match in `s`, if any.
    fn group(&self, s: &str, group: usize, search: &mut Search) -> Option<(usize, usize)> {
        let Search { cache, caps } = search;
        match &self.prefix {
            Some(prefix) => {
                let start = prefix.find(s.as_bytes())?;
                let anchored = Input::new(s).span(start..s.len()).anchored(Anchored::Yes);
                self.regex.search_captures_with(cache, &anchored, caps);
                if !caps.is_match() {
                    self.regex.search_captures_with(cache, &Input::new(s), caps);
                }
            }
            None => self.regex.search_captures_with(cache, &Input::new(s), caps),
        }
        caps.get_group(group).map(|span| (span.start, span.end))
    }
}

/// The string column and the compiled pattern of a call `(strings, pattern, ...)`.
fn prepare<'c>(args: &Args, cx: &'c mut Context<'_>) -> Result<(StringArray, &'c Regex), String> {
    let input = utf8(args, 0)?;
    let pattern = args.text(1)?;
    let regex = cx.regexes.get(pattern).map_err(|e| format!("`{}`: {e}", args.name))?;
    Ok((input, regex))
}

/// Whether each value has a match.
pub(super) fn is_match(args: &Args, cx: &mut Context<'_>) -> KernelResult {
    args.count(2)?;
    let (input, regex) = prepare(args, cx)?;
    let mut out = BooleanBuilder::with_capacity(input.len());
    for value in input.iter() {
        out.append_option(value.map(|s| regex.is_match(s)));
    }
    Ok(Arc::new(out.finish()))
}

/// The byte index of the first match, -1 if none (as pyarrow's and Polars').
pub(super) fn find(args: &Args, cx: &mut Context<'_>) -> KernelResult {
    args.count(2)?;
    let (input, regex) = prepare(args, cx)?;
    let mut out = Int32Builder::with_capacity(input.len());
    for value in input.iter() {
        out.append_option(value.map(|s| regex.find(s).map_or(-1, |m| m.start() as i32)));
    }
    Ok(Arc::new(out.finish()))
}

/// Non-overlapping matches per value.
pub(super) fn count(args: &Args, cx: &mut Context<'_>) -> KernelResult {
    args.count(2)?;
    let (input, regex) = prepare(args, cx)?;
    let mut out = Int32Builder::with_capacity(input.len());
    for value in input.iter() {
        out.append_option(value.map(|s| regex.find_iter(s).count() as i32));
    }
    Ok(Arc::new(out.finish()))
}

/// Capture group `group` (default 1) of the first match, null when the
/// value does not match or the group took no part (Polars' `str.extract`).
pub(super) fn extract(args: &Args, cx: &mut Context<'_>) -> KernelResult {
    if !(2..=3).contains(&args.args.len()) {
        return Err(format!("`{}` takes a column, a pattern and an optional group", args.name));
    }
    let group = args.int_or(2, 1)?;
    let input = utf8(args, 0)?;
    let pattern = args.text(1)?;
    let compiled = cx.regexes.captures(pattern).map_err(|e| format!("`{}`: {e}", args.name))?;
    let group = usize::try_from(group)
        .ok()
        .filter(|&g| g < compiled.regex.captures_len())
        .ok_or_else(|| format!("`{}`: the pattern has no group {group}", args.name))?;
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    let mut search = compiled.search();
    for value in input.iter() {
        match value.and_then(|s| compiled.group(s, group, &mut search).map(|(from, to)| &s[from..to])) {
            Some(found) => out.append_value(found),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Replaces every match; `\1` in the replacement names group 1 and `\\` is
/// a backslash (RE2's syntax, as pyarrow's); anything else is literal.
pub(super) fn replace(args: &Args, cx: &mut Context<'_>) -> KernelResult {
    args.count(3)?;
    let replacement = re2_replacement(args.text(2)?);
    let (input, regex) = prepare(args, cx)?;
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    for value in input.iter() {
        match value {
            Some(s) => {
                out.append_value(regex.replace_all(s, replacement.as_str()));
                args.within_budget(out.values_slice().len())?;
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// An RE2 replacement (`\1`, `\\`) in the `regex` crate's syntax (`${1}`, `$$`).
fn re2_replacement(re2: &str) -> String {
    let mut out = String::with_capacity(re2.len());
    let mut chars = re2.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// Splits each value on the pattern's matches into a list of strings.
pub(super) fn split(args: &Args, cx: &mut Context<'_>) -> KernelResult {
    args.count(2)?;
    let (input, regex) = prepare(args, cx)?;
    Ok(super::strings::lists_of_parts(&input, |s| regex.split(s)))
}
