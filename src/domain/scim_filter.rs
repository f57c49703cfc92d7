//! SCIM 2.0 filter expressions (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2), read into plain
//! values. Only the syntax lives here; what a filter matches, and how it becomes a query plan,
//! is decided elsewhere. Input length, nesting depth and the number of comparisons are bounded
//! so hostile input costs little; a long flat `or` chain is not nesting.
//!
//! Tokens are read with `nom`; the expression layer is a small hand-written precedence climb so
//! that every failure can say what was expected and at which byte offset. nom 8.0.0's
//! `character::complete::{space0, digit0, …}` return a misplaced empty remainder when they consume
//! all input (rust-bakery/nom#1808, fixed upstream but unreleased), which breaks `recognize` and
//! offsets; `take_while` does not have the bug, so it stands in for them here.

use std::cell::Cell;
use std::fmt;

use nom::{
    IResult, Offset, Parser,
    branch::alt,
    bytes::complete::{is_not, tag, tag_no_case, take_while, take_while1},
    character::complete::{anychar, char, digit1, one_of, satisfy},
    combinator::{opt, recognize},
    multi::many0_count,
};

/// Longer filters are refused before parsing. An IdP's filter is a few dozen bytes, but a
/// client may match a few hundred users in one `or` chain (`MAX_TERMS` long user names).
pub const MAX_INPUT_BYTES: usize = 32 * 1024;
/// Deepest nesting of `(`, `not (` and `[` accepted; keeps recursion far from the stack limit.
/// A chain of `and`/`or` is flat, whatever its length.
pub const MAX_DEPTH: usize = 32;
/// Most attribute comparisons (`pr` and operator tests, also inside `[…]`) in one filter. Each
/// becomes one SQL predicate with at most one bound value, so the query stays far below
/// SQLite's expression depth (1000) and both backends' bind-parameter limits.
pub const MAX_TERMS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work" and value co "@example.com"]`: the inner filter applies to the
    /// elements of the multi-valued attribute `path` (whose sub_attr is None). Entra's
    /// `emails[type eq "work"].value eq "x"` is read as `emails[type eq "work" and value eq "x"]`:
    /// some element is a work address and has that value.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// `and` or `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connective {
    And,
    Or,
}

impl Filter {
    /// The operands of the run of `connective` at the top of this filter: `a or b or c` (read
    /// as `(a or b) or c`) gives `[a, b, c]` for `Or`; a filter that is no such run gives itself.
    /// Gathered without recursion, so code that walks a filter through this recurses as deep as
    /// the filter nests, never as long as it is.
    pub fn operands(&self, connective: Connective) -> Vec<&Filter> {
        let mut operands = Vec::new();
        let mut pending = vec![self];
        while let Some(f) = pending.pop() {
            match (f, connective) {
                (Filter::And(a, b), Connective::And) | (Filter::Or(a, b), Connective::Or) => {
                    pending.extend([b.as_ref(), a.as_ref()])
                }
                _ => operands.push(f),
            }
        }
        operands
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

/// A PATCH operation's target: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub_attr: Option<String>,
}

/// What is wrong with a filter or path; `position` is a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.message, self.position)
    }
}

impl std::error::Error for FilterError {}

pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let terms = Cell::new(0);
    parse_whole(
        input,
        "filter",
        "`and`, `or` or the end of the filter",
        |s| or_expr(s, Nest::top(&terms)),
    )
}

pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    let terms = Cell::new(0);
    parse_whole(input, "path", "the end of the path", |s| {
        let (rest, attr) = attr_path(s)?;
        let mut path = PatchPath {
            attr,
            filter: None,
            sub_attr: None,
        };
        let Some((rest, filter)) = value_filter(&path.attr, rest, Nest::top(&terms))? else {
            return Ok((rest, path));
        };
        path.filter = Some(filter);
        let Some(after_dot) = rest.strip_prefix('.') else {
            return Ok((rest, path));
        };
        let (rest, sub) = sub_attr(after_dot)?;
        path.sub_attr = Some(sub);
        Ok((rest, path))
    })
}

/// A failure at the slice `at` (a part of the input), before its offset is known.
struct Fail<'a> {
    at: &'a str,
    message: String,
}

type Step<'a, T> = Result<(&'a str, T), Fail<'a>>;

fn fail<'a>(at: &'a str, message: impl Into<String>) -> Fail<'a> {
    let message = message.into();
    Fail { at, message }
}

/// How deep the parser is, whether it is inside `[…]` (where value paths may not nest), and
/// how many comparisons the whole input has had so far.
#[derive(Debug, Clone, Copy)]
struct Nest<'c> {
    depth: usize,
    in_brackets: bool,
    terms: &'c Cell<usize>,
}

impl<'c> Nest<'c> {
    fn top(terms: &'c Cell<usize>) -> Self {
        Nest {
            depth: 0,
            in_brackets: false,
            terms,
        }
    }

    /// Counts one more comparison, starting at `at`.
    fn count_term<'a>(&self, at: &'a str) -> Result<(), Fail<'a>> {
        self.terms.set(self.terms.get() + 1);
        if self.terms.get() > MAX_TERMS {
            return Err(fail(
                at,
                format!("has more than {MAX_TERMS} comparisons; split it into several requests"),
            ));
        }
        Ok(())
    }
}

fn parse_whole<'a, T>(
    input: &'a str,
    what: &str,
    expected_after: &str,
    body: impl FnOnce(&'a str) -> Step<'a, T>,
) -> Result<T, FilterError> {
    let error = |f: Fail<'a>| FilterError {
        message: f.message,
        position: input.offset(f.at),
    };
    if input.len() > MAX_INPUT_BYTES {
        let message = format!("the {what} is longer than {MAX_INPUT_BYTES} bytes");
        return Err(FilterError {
            message,
            position: MAX_INPUT_BYTES,
        });
    }
    let start = spaces(input);
    if start.is_empty() {
        return Err(error(fail(start, format!("the {what} is empty"))));
    }
    let (rest, value) = body(start).map_err(error)?;
    let rest = spaces(rest);
    if !rest.is_empty() {
        let message = format!("expected {expected_after} but found {}", found(rest));
        return Err(error(fail(rest, message)));
    }
    Ok(value)
}

fn or_expr<'a>(input: &'a str, nest: Nest<'_>) -> Step<'a, Filter> {
    let (mut rest, mut left) = and_expr(input, nest)?;
    while let Some(after) = connective(input, rest, "or") {
        let (r, right) = and_expr(after, nest)?;
        (rest, left) = (r, Filter::Or(Box::new(left), Box::new(right)));
    }
    Ok((rest, left))
}

fn and_expr<'a>(input: &'a str, nest: Nest<'_>) -> Step<'a, Filter> {
    let (mut rest, mut left) = unary(input, nest)?;
    while let Some(after) = connective(input, rest, "and") {
        let (r, right) = unary(after, nest)?;
        (rest, left) = (r, Filter::And(Box::new(left), Box::new(right)));
    }
    Ok((rest, left))
}

/// Reads `and`/`or` after the operand that spans `start..rest`. The RFC puts spaces around
/// the word; they may be left out only next to a parenthesis or bracket.
fn connective<'a>(start: &'a str, rest: &'a str, word: &str) -> Option<&'a str> {
    let consumed = &start[..start.len() - rest.len()];
    let after_gap = spaces(rest);
    let after_word = keyword(after_gap, word)?;
    let next = spaces(after_word);
    let spaced_before = after_gap.len() < rest.len() || consumed.ends_with([')', ']']);
    // At the end of input the word is kept, so the error names the missing operand.
    let spaced_after = next.len() < after_word.len() || next.is_empty() || next.starts_with('(');
    (spaced_before && spaced_after).then_some(next)
}

fn unary<'a>(input: &'a str, nest: Nest<'_>) -> Step<'a, Filter> {
    if let Some(after_not) = keyword(input, "not") {
        let open = spaces(after_not);
        if open.starts_with('(') {
            let (rest, filter) = enclosed(open, nest, ')')?;
            return Ok((rest, Filter::Not(Box::new(filter))));
        }
    }
    match input.starts_with('(') {
        true => enclosed(input, nest, ')'),
        false => attr_expr(input, nest),
    }
}

/// A filter from the opening `(` or `[` at the start of `open` up to and including `close`.
fn enclosed<'a>(open: &'a str, nest: Nest<'_>, close: char) -> Step<'a, Filter> {
    if nest.depth >= MAX_DEPTH {
        return Err(fail(open, format!("nests deeper than {MAX_DEPTH} levels")));
    }
    let in_brackets = nest.in_brackets || close == ']';
    let inner = Nest {
        depth: nest.depth + 1,
        in_brackets,
        terms: nest.terms,
    };
    let (rest, filter) = or_expr(spaces(&open[1..]), inner)?;
    let rest = spaces(rest);
    match rest.strip_prefix(close) {
        Some(rest) => Ok((rest, filter)),
        None => {
            let message = format!(
                "expected `and`, `or` or `{close}` but found {}",
                found(rest)
            );
            Err(fail(rest, message))
        }
    }
}

fn attr_expr<'a>(input: &'a str, nest: Nest<'_>) -> Step<'a, Filter> {
    let (rest, path) = attr_path(input)?;
    let Some((rest, mut filter)) = value_filter(&path, rest, nest)? else {
        nest.count_term(input)?;
        return comparison(path, rest);
    };
    // `emails[type eq "work"].value eq "x"` (Entra matches on a work e-mail this way): the
    // comparison joins the element filter, since both must hold for one element.
    let mut rest = rest;
    if let Some(after_dot) = rest.strip_prefix('.') {
        nest.count_term(after_dot)?;
        let (after_sub, sub) = sub_attr(after_dot)?;
        let sub = AttrPath {
            uri: None,
            attr: sub,
            sub_attr: None,
        };
        let (after_test, test) = comparison(sub, after_sub)?;
        filter = Filter::And(Box::new(filter), Box::new(test));
        rest = after_test;
    }
    let filter = Box::new(filter);
    Ok((rest, Filter::ValuePath { path, filter }))
}

/// `pr`, or an operator and a value, after the attribute `path`.
fn comparison(path: AttrPath, rest: &str) -> Step<'_, Filter> {
    let op_at = spaces(rest);
    let Ok((after_op, word)) = take_while1::<_, _, ()>(is_name_char)(op_at) else {
        let message = format!(
            "expected an operator after the attribute but found {}",
            found(rest)
        );
        return Err(fail(rest, message));
    };
    let op = match word.to_ascii_lowercase().as_str() {
        "pr" => return Ok((after_op, Filter::Present(path))),
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => {
            let message = format!(
                "unknown operator `{word}`; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr"
            );
            return Err(fail(op_at, message));
        }
    };
    let value_at = spaces(after_op);
    if value_at.len() == after_op.len() {
        let message = format!("expected a space and a value after `{word}`");
        return Err(fail(after_op, message));
    }
    let (rest, value) = comp_value(value_at)?;
    Ok((rest, Filter::Compare { path, op, value }))
}

/// `[filter]` right after `path`, if there is one.
fn value_filter<'a>(
    path: &AttrPath,
    input: &'a str,
    nest: Nest<'_>,
) -> Result<Option<(&'a str, Filter)>, Fail<'a>> {
    let at = spaces(input);
    if !at.starts_with('[') {
        return Ok(None);
    }
    if nest.in_brackets {
        return Err(fail(at, "value filters cannot be nested"));
    }
    if let Some(sub) = &path.sub_attr {
        let message = format!(
            "a value filter applies to a multi-valued attribute, not to the sub-attribute `{sub}`"
        );
        return Err(fail(at, message));
    }
    enclosed(at, nest, ']').map(Some)
}

/// `[URI ":"] ATTRNAME ["." subAttr]`. The URI is everything before the last `:`, which lets
/// URNs such as `urn:…:enterprise:2.0:User` carry dots and colons.
fn attr_path(input: &str) -> Step<'_, AttrPath> {
    let is_path_char = |c: char| is_name_char(c) || matches!(c, ':' | '.' | '$');
    let Ok((rest, run)) = take_while1::<_, _, ()>(is_path_char)(input) else {
        return Err(fail(
            input,
            format!("expected an attribute name but found {}", found(input)),
        ));
    };
    let (uri, local) = match run.rfind(':') {
        Some(0) => return Err(fail(run, "expected a schema URI before `:`")),
        Some(i) => (Some(run[..i].to_string()), &run[i + 1..]),
        None => (None, run),
    };
    let (after_attr, attr) = name(local).map_err(|_| {
        let here = &input[input.offset(local)..];
        fail(
            local,
            format!("expected an attribute name but found {}", found(here)),
        )
    })?;
    let (end, sub) = match after_attr.strip_prefix('.') {
        Some(after_dot) => sub_attr(after_dot).map(|(end, sub)| (end, Some(sub)))?,
        None => (after_attr, None),
    };
    if !end.is_empty() {
        let message = format!("unexpected {} in the attribute path", found(end));
        return Err(fail(end, message));
    }
    let attr = attr.to_string();
    Ok((
        rest,
        AttrPath {
            uri,
            attr,
            sub_attr: sub,
        },
    ))
}

fn sub_attr(after_dot: &str) -> Step<'_, String> {
    let (rest, sub) =
        name(after_dot).map_err(|_| fail(after_dot, "expected a sub-attribute name after `.`"))?;
    Ok((rest, sub.to_string()))
}

fn comp_value(input: &str) -> Step<'_, CompValue> {
    let expected = || {
        let message = format!(
            "expected a value (a quoted string, a number, true, false or null) but found {}",
            found(input)
        );
        fail(input, message)
    };
    let (rest, value) = if input.starts_with('"') {
        let (rest, literal) = string_literal(input)
            .map_err(|_| fail(input, "unterminated string: no closing `\"`"))?;
        // serde_json decodes the escapes; its message ends with " at line 1 column N".
        let text = serde_json::from_str(literal).map_err(|e| {
            let message = e.to_string();
            let reason = message.split(" at line ").next().unwrap_or_default();
            let at = input.get(e.column().saturating_sub(1)..).unwrap_or(input);
            fail(at, format!("invalid string: {reason}"))
        })?;
        (rest, CompValue::Str(text))
    } else if let Ok((rest, number)) = json_number(input) {
        let number = serde_json::from_str(number)
            .map_err(|_| fail(input, format!("number `{number}` is out of range")))?;
        (rest, CompValue::Num(number))
    } else if let Some(rest) = keyword(input, "true") {
        (rest, CompValue::Bool(true))
    } else if let Some(rest) = keyword(input, "false") {
        (rest, CompValue::Bool(false))
    } else if let Some(rest) = keyword(input, "null") {
        (rest, CompValue::Null)
    } else {
        return Err(expected());
    };
    // A value must end where a token ends, so `1x` or `"a"b` is not read as a value and garbage.
    match rest.chars().next() {
        None | Some(' ' | '\t' | ')' | ']') => Ok((rest, value)),
        Some(_) => Err(expected()),
    }
}

fn string_literal(input: &str) -> IResult<&str, &str> {
    let piece = alt((is_not("\\\""), recognize((char('\\'), anychar))));
    recognize((char('"'), many0_count(piece), char('"'))).parse(input)
}

fn json_number(input: &str) -> IResult<&str, &str> {
    let digits = take_while(|c: char| c.is_ascii_digit());
    let int = alt((tag("0"), recognize((one_of("123456789"), digits))));
    let exp = (one_of("eE"), opt(one_of("+-")), digit1);
    recognize((opt(char('-')), int, opt((char('.'), digit1)), opt(exp))).parse(input)
}

/// ATTRNAME = ALPHA *(nameChar), plus the `$ref` that SCIM uses for references.
fn name(input: &str) -> IResult<&str, &str> {
    let plain = recognize((
        satisfy(|c| c.is_ascii_alphabetic()),
        take_while(is_name_char),
    ));
    alt((tag("$ref"), plain)).parse(input)
}

/// A case-insensitive word that is not the start of a longer name (`and` but not `android`).
fn keyword<'a>(input: &'a str, word: &str) -> Option<&'a str> {
    let (rest, _) = tag_no_case::<_, _, ()>(word)(input).ok()?;
    (!rest.starts_with(is_name_char)).then_some(rest)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn spaces(input: &str) -> &str {
    take_while::<_, _, ()>(|c| c == ' ' || c == '\t')(input).map_or(input, |(rest, _)| rest)
}

/// The start of `rest`, quoted, for error messages.
fn found(rest: &str) -> String {
    match rest.char_indices().nth(20) {
        None if rest.is_empty() => "the end of the input".to_string(),
        None => format!("`{rest}`"),
        Some((cut, _)) => format!("`{}…`", &rest[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A filter as an s-expression, so expected structures fit on one line.
    fn show(f: &Filter) -> String {
        let path = |p: &AttrPath| {
            let uri = p.uri.as_ref().map(|u| format!("{u}|")).unwrap_or_default();
            let sub = p
                .sub_attr
                .as_ref()
                .map(|s| format!(".{s}"))
                .unwrap_or_default();
            format!("{uri}{}{sub}", p.attr)
        };
        match f {
            Filter::Compare { path: p, op, value } => {
                let value = match value {
                    CompValue::Str(s) => format!("{s:?}"),
                    CompValue::Num(n) => n.to_string(),
                    CompValue::Bool(b) => b.to_string(),
                    CompValue::Null => "null".into(),
                };
                let op = format!("{op:?}").to_lowercase();
                format!("({op} {} {value})", path(p))
            }
            Filter::Present(p) => format!("(pr {})", path(p)),
            Filter::And(a, b) => format!("(and {} {})", show(a), show(b)),
            Filter::Or(a, b) => format!("(or {} {})", show(a), show(b)),
            Filter::Not(a) => format!("(not {})", show(a)),
            Filter::ValuePath { path: p, filter } => format!("{}[{}]", path(p), show(filter)),
        }
    }

    /// Checks a table of `input => s-expression` lines; inputs are trimmed.
    fn check(table: &str) {
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (input, expected) = line.trim().split_once(" => ").expect(line);
            let filter = parse_filter(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(show(&filter), expected.trim(), "{input}");
        }
    }

    #[test]
    fn every_operator_is_read_in_any_case() {
        check(
            r#"
            title eq "x" => (eq title "x")
            title NE "x" => (ne title "x")
            title Co "x" => (co title "x")
            title sW "x" => (sw title "x")
            title ew "x" => (ew title "x")
            n gt 1 => (gt n 1)
            n GE 1 => (ge n 1)
            n lt 1 => (lt n 1)
            n le 1 => (le n 1)
            title PR => (pr title)
            a pr AND b pr Or NoT (c pr) => (or (and (pr a) (pr b)) (not (pr c)))
            "#,
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_both_associate_left() {
        check(
            r#"
            a eq 1 or b eq 2 and c eq 3 => (or (eq a 1) (and (eq b 2) (eq c 3)))
            (a eq 1 or b eq 2) and c eq 3 => (and (or (eq a 1) (eq b 2)) (eq c 3))
            a pr and b pr and c pr => (and (and (pr a) (pr b)) (pr c))
            a pr or b pr or c pr => (or (or (pr a) (pr b)) (pr c))
            ( a pr )or(b pr)  or c pr => (or (or (pr a) (pr b)) (pr c))
            not (a pr or b pr) and c pr => (and (not (or (pr a) (pr b))) (pr c))
            not(not ( a pr )) => (not (not (pr a)))
            not pr and or pr => (and (pr not) (pr or))
            "#,
        );
        // Leading and trailing spaces are tolerated; without `(`, `not` is an attribute name.
        assert_eq!(parse_filter("  a pr  "), parse_filter("a pr"));
    }

    #[test]
    fn values_are_decoded() {
        check(
            r#"
            a eq true => (eq a true)
            a eq False => (eq a false)
            a eq NULL => (eq a null)
            a eq -42 => (eq a -42)
            a eq 1.5e3 => (eq a 1500.0)
            a eq 0 => (eq a 0)
            a eq "" => (eq a "")
            a eq "a \"q\" \\ \u00e9\n)" => (eq a "a \"q\" \\ é\n)")
            "#,
        );
    }

    #[test]
    fn entra_filters_urns_and_value_filters_parse() {
        check(
            r#"
            userName eq "x@contoso.com" => (eq userName "x@contoso.com")
            externalId eq "6f1c2e1a-46d4" => (eq externalId "6f1c2e1a-46d4")
            emails[ type eq "work" and value co "@x" ] => emails[(and (eq type "work") (co value "@x"))]
            name eq "a" and members[value eq "1"] => (and (eq name "a") members[(eq value "1")])
            members.$ref pr => (pr members.$ref)
            urn:ietf:params:scim:schemas:core:2.0:User:userName pr => (pr urn:ietf:params:scim:schemas:core:2.0:User|userName)
            urn:x:enterprise:2.0:User:manager.value eq "7" => (eq urn:x:enterprise:2.0:User|manager.value "7")
            emails[type eq "work"].value eq "a@contoso.com" => emails[(and (eq type "work") (eq value "a@contoso.com"))]
            emails[type eq "work" or primary eq true].VALUE co "@" and active eq true => (and emails[(and (or (eq type "work") (eq primary true)) (co VALUE "@"))] (eq active true))
            phoneNumbers[type eq "mobile"].value pr => phoneNumbers[(and (eq type "mobile") (pr value))]
            not (emails[type eq "work"].value ew "@x") => (not emails[(and (eq type "work") (ew value "@x"))])
            "#,
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        // `input => position message`; a sub-attribute after `]` belongs to PATCH paths only.
        let table = r#"
            userName eq "abc => 12 unterminated string
            userName eqq "x" => 9 unknown operator `eqq`
            userName eq "x" foo => 16 expected `and`, `or` or the end of the filter but found `foo`
            (a pr => 5 expected `and`, `or` or `)` but found the end of the input
            a pr) => 4 found `)`
            emails[type eq "x" => 18 expected `and`, `or` or `]`
            a eq => 4 expected a space and a value after `eq`
            a pr and => 8 expected an attribute name but found the end of the input
            a eq 1x => 5 expected a value
            a eq 1and b pr => 5 expected a value
            a.b.c pr => 3 unexpected `.c` in the attribute path
            a eq "\q" => 7 invalid string: invalid escape
            a eq 1e999 => 5 number `1e999` is out of range
            urn:x: pr => 6 expected an attribute name but found ` pr`
            emails[type eq "work"].value => 28 expected an operator after the attribute
            emails[type eq "work"]. eq "x" => 23 expected a sub-attribute name
            emails[type eq "work"].value.x eq "x" => 28 expected an operator after the attribute
            emails.value[type eq "work"] => 12 not to the sub-attribute `value`
            emails[addresses[type pr]] => 16 value filters cannot be nested
        "#;
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (input, expected) = line.trim().split_once(" => ").expect(line);
            let (position, says) = expected.split_once(' ').expect(line);
            let e = parse_filter(input).expect_err(input);
            assert_eq!(e.position.to_string(), position, "{input}: {e}");
            assert!(e.message.contains(says), "{input}: {e}");
        }
        assert_eq!(parse_filter("").unwrap_err().message, "the filter is empty");
        assert_eq!(parse_filter("   ").unwrap_err().position, 3);
        let e = parse_filter("a eqq 1").unwrap_err();
        assert!(e.to_string().ends_with("(at position 2)"), "{e}");
    }

    #[test]
    fn length_and_nesting_are_bounded() {
        let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(&nested(MAX_DEPTH)).is_ok());
        let too_deep = parse_filter(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(too_deep.position, MAX_DEPTH);
        assert!(parse_filter(&"not (".repeat(1000)).is_err());
        let long = format!("a eq \"{}\"", "x".repeat(MAX_INPUT_BYTES));
        assert_eq!(parse_filter(&long).unwrap_err().position, MAX_INPUT_BYTES);
        assert!(parse_path(&long).is_err());
    }

    #[test]
    fn a_long_flat_chain_is_not_nesting_but_its_length_is_bounded() {
        let chain = |n: usize, word: &str| {
            (0..n)
                .map(|i| format!("userName eq \"u{i}\""))
                .collect::<Vec<_>>()
                .join(&format!(" {word} "))
        };
        for word in ["or", "and"] {
            let filter = parse_filter(&chain(MAX_TERMS, word)).unwrap();
            let connective = if word == "or" {
                Connective::Or
            } else {
                Connective::And
            };
            let operands = filter.operands(connective);
            assert_eq!(operands.len(), MAX_TERMS);
            assert_eq!(show(operands[7]), r#"(eq userName "u7")"#);
        }
        let too_long = chain(MAX_TERMS + 1, "or");
        let e = parse_filter(&too_long).unwrap_err();
        assert!(e.message.contains("more than 500 comparisons"), "{e}");
        assert_eq!(e.position, too_long.rfind("userName").unwrap());
        // The comparisons inside brackets count, and so does one after `]`.
        let bracketed = format!("emails[{}].value pr", chain(MAX_TERMS, "or"));
        assert!(
            parse_filter(&bracketed)
                .unwrap_err()
                .message
                .contains("comparisons")
        );
        // Chains inside nesting still stop at the depth limit, not before.
        let deep = format!(
            "{}a pr or b pr{}",
            "(c pr or ".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(parse_filter(&deep).is_ok());
        let deeper = format!("(c pr or {deep})");
        assert!(
            parse_filter(&deeper)
                .unwrap_err()
                .message
                .contains("nests deeper")
        );
    }

    #[test]
    fn operands_of_mixed_and_nested_chains() {
        let f = parse_filter("a pr or b pr and c pr or (d pr or e pr)").unwrap();
        let shown: Vec<String> = f.operands(Connective::Or).iter().map(|f| show(f)).collect();
        // `and` binds tighter, so it is one operand; a parenthesised run of the same connective
        // means the same as without the parentheses, so it joins the list.
        assert_eq!(shown, ["(pr a)", "(and (pr b) (pr c))", "(pr d)", "(pr e)"]);
        assert_eq!(f.operands(Connective::And), [&f]);
    }

    #[test]
    fn patch_paths_parse() {
        // `input => attribute [filter] .sub-attribute`, shown with the filter printer.
        let table = r#"
            members[value eq "123"] => (pr members) [(eq value "123")] .
            emails[type eq "work"].value => (pr emails) [(eq type "work")] .value
            name.givenName => (pr name.givenName) [] .
            active => (pr active) [] .
            urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber => (pr urn:ietf:params:scim:schemas:extension:enterprise:2.0:User|employeeNumber) [] .
        "#;
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (input, expected) = line.trim().split_once(" => ").expect(line);
            let p = parse_path(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let filter = p.filter.as_ref().map(show).unwrap_or_default();
            let attr = show(&Filter::Present(p.attr));
            let shown = format!("{attr} [{filter}] .{}", p.sub_attr.unwrap_or_default());
            assert_eq!(shown, expected, "{input}");
        }
        let bad = r#"emails[type eq "work"]x 22|name.givenName[type pr] 14|emails[type pr 14|emails[type pr]. 16|active eq 7"#;
        for case in bad.split('|') {
            let (input, position) = case.rsplit_once(' ').unwrap();
            let e = parse_path(input).expect_err(input);
            assert_eq!(e.position.to_string(), position, "{input}: {e}");
        }
        assert_eq!(parse_path(" ").unwrap_err().message, "the path is empty");
    }

    /// Strings glued from filter-ish pieces reach deeper into the grammar than random text.
    fn filterish() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "(", ")", "[", "]", " ", "and", "OR", "not", "eq", "pr", "\"", "\\", "userName", "1",
            "-", ".", ":", "urn:a:b", "$ref", "true", "é", "\"x\"", "\t", "emails[", "].value",
            "].",
        ];
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn any_input_is_answered_without_panicking_and_errors_point_inside_it(
            input in prop_oneof![any::<String>(), filterish()]
        ) {
            for error in [parse_filter(&input).err(), parse_path(&input).err()].into_iter().flatten() {
                let at = error.position;
                prop_assert!(at <= input.len() && input.is_char_boundary(at), "{error}");
            }
        }
    }
}
