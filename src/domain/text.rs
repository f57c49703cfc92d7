//! Text from outside that we keep or print: which characters are trouble, how a log line shows
//! them, and how free text from strangers (an identity provider's error description, say) is
//! cut down before it is stored.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that reorder the text around them (the Unicode bidirectional embeddings,
/// overrides and isolates): in a name they make "evil.exe" read as something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Control characters (C0, DEL, C1) and bidi controls: what may not be printed raw.
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `text` with every unprintable character written as an escape (`\n`, `\u{1b}`), so one log
/// record stays one line and a terminal shows what was sent instead of obeying it.
pub fn escape_unprintable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unprintable(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Free text from a stranger, made fit to store and show: unprintable characters become
/// spaces, runs of spaces one, and at most `max_chars` characters are kept (an ellipsis says
/// some were cut).
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut kept = 0;
    let mut last_space = true;
    for c in text.chars() {
        let c = if is_unprintable(c) || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if kept == max_chars {
            out.push('…');
            return out.trim_end().to_string();
        }
        out.push(c);
        kept += 1;
        last_space = c == ' ';
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_terminal_escapes_and_bidi_controls() {
        assert_eq!(
            escape_unprintable("a\nb\r\x1b[31mc\u{202E}d\0"),
            "a\\nb\\r\\u{1b}[31mc\\u{202e}d\\u{0}"
        );
        assert!(matches!(escape_unprintable("Åsa Öberg"), Cow::Borrowed(_)));
    }

    #[test]
    fn cleans_and_caps_free_text() {
        assert_eq!(clean("  bad\n\n\x1b[2Jthing  ", 100), "bad [2Jthing");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("日本語のテキスト", 3), "日本語…");
        assert_eq!(clean("abc", 3), "abc");
    }
}
