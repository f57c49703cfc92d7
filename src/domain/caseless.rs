//! Case-insensitive text, compared the same way on both backends: a caseless key computed
//! here, in Rust, stored beside the text and compared in SQL as plain text. (SQLite's
//! `lower()` folds only ASCII, and PostgreSQL's depends on the database's locale.)
//!
//! The key is Unicode's canonical caseless match (Unicode §3.13, D145): full case folding of
//! the canonically decomposed text, recomposed (NFC) so that substrings (`co`, `sw`, `ew`)
//! line up with the letters a person sees. Full folding, not lower-casing, because folding is
//! what Unicode defines for comparing without case: `Groß` = `GROSS` (ß has no one-letter
//! capital), and σ, ς and Σ are one letter, where lower-casing turns a final Σ into ς and then
//! `sw "ΟΔΥΣ"` would miss `Οδυσσεύς`. So: `Åsa Öberg` = `ÅSA ÖBERG`; `ＡＢＣ` = `ａｂｃ`;
//! `Jürgen Groß` = `JÜRGEN GROSS`; a decomposed `Å` (A + ring) = `Å`. Still different, since
//! they differ in more than case (RFC 7643 `caseExact: false` asks for case only): full-width
//! and ASCII letters (`ＡＢＣ`, `ABC`), hiragana and katakana, `é` and `e`.

use icu_casemap::CaseMapperBorrowed;
use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};

/// The version of `key`'s rules. Bump it when `key` changes, or when an upgrade of the ICU4X
/// data makes it fold more characters: `store::migrate` then recomputes every stored key.
pub const VERSION: i64 = 1;

/// The caseless key of `text`: equal keys mean equal text, ignoring case.
pub fn key(text: &str) -> String {
    if text.is_ascii() {
        // What the general path computes for ASCII, without its three passes.
        return text.to_ascii_lowercase();
    }
    let decomposed = DecomposingNormalizerBorrowed::new_nfd().normalize(text);
    let folded = CaseMapperBorrowed::new().fold_string(&decomposed);
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(&folded)
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn names_in_any_case_have_one_key() {
        for (a, b) in [
            ("Åsa Öberg", "åsa öberg"),
            ("Åsa Öberg", "ÅSA ÖBERG"),
            ("Jürgen Groß", "JÜRGEN GROSS"),
            ("Jürgen Groß", "jürgen gross"),
            ("ẞ", "ss"),
            ("ＡＢＣ", "ａｂｃ"),
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευς"),
            ("A\u{30a}sa", "Åsa"),
            ("İstanbul", "i\u{307}stanbul"),
            ("Alice@Contoso.COM", "alice@contoso.com"),
        ] {
            assert_eq!(key(a), key(b), "{a} / {b}");
        }
        assert_eq!(key("Åsa Öberg"), "åsa öberg");
        assert_eq!(key("Jürgen Groß"), "jürgen gross");
        assert_eq!(key("山田 太郎"), "山田 太郎");
    }

    #[test]
    fn only_case_is_ignored() {
        for (a, b) in [
            ("ＡＢＣ", "abc"),
            ("やまだ", "ヤマダ"),
            ("José", "Jose"),
            ("Öberg", "Oberg"),
        ] {
            assert_ne!(key(a), key(b), "{a} / {b}");
        }
    }

    #[test]
    fn a_key_is_its_own_key() {
        for s in [
            "Åsa Öberg",
            "Jürgen Groß",
            "ΟΔΥΣΣΕΥΣ",
            "ＡＢＣ",
            "山田 太郎",
            "A\u{30a}",
        ] {
            let k = key(s);
            assert_eq!(key(&k), k, "{s}");
        }
    }
}
