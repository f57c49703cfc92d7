//! Similar past incidents: an in-memory inverted index of resolved incidents and a ranking of
//! them against one incident (`GET /api/v2/incidents/{id}/related_incidents`). Pure: the caller
//! reads incidents, builds a [`Document`] of each, keeps the [`Index`] up to date as incidents
//! resolve (and are deleted), and asks it; nothing here reads the database or the clock.
//!
//! Ranking is BM25 (Robertson's, k1 = 1.2, b = 0.75) over the words of all fields at once, each
//! occurrence counted with its field's weight (a title word counts more than a detail key), so
//! "postgres" in one incident's title meets "postgres" in another's component. The query side
//! is saturated the same way, and the score is divided by what the query would score against
//! itself, so a similarity of 1 means "says everything this incident says, as strongly" and a
//! threshold ([`SIMILAR`]) means the same thing for every query.
//!
//! Words: text is NFKC-normalised (full-width letters and half-width katakana become the usual
//! ones) and lower-cased; Latin words are split on anything not a letter or digit and at
//! camel-case humps (`OOMKilled` = `oom killed`), and stemmed (Snowball English, so `expired`
//! meets `expires`). What changes from one incident of the same cause to the next is dropped:
//! counts, percentages, ids, hex hashes, UUIDs and IP addresses, and a host's number
//! (`db-prod-03` and `db01` are `db`). Japanese (and Chinese) has no spaces, so runs of kana and
//! han become overlapping character pairs (`証明書` = `証明 明書`), leaving out hiragana, which
//! is mostly particles and endings: no dictionary to ship, and measured good enough
//! (benches/related_incidents.rs; single kanji as well made it worse). Across languages two
//! incidents meet only on what they share: machine names (source, component, class, detail
//! keys) and the English that Japanese text carries (`OOMKilled`, `DNS`); there is no
//! dictionary between the languages, so a Japanese incident's English cousins rank lower than
//! its Japanese ones.
//!
//! An index rather than a scan: each word keeps the incidents that have it (its postings), and a
//! search adds up scores over the query's words' postings only. Removing an incident takes it
//! out of its words' postings at once, so counts and document frequencies are always exact.
//!
//! Why not a search-engine crate: tantivy and its peers are built around segments on disk and
//! a commit cycle; the whole of what is needed here is a map of postings and a formula.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// What an incident says about itself (an incident groups one or more alerts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub title: String,
    /// Its alerts' summaries; repeats are counted once.
    pub summaries: Vec<String>,
    pub sources: Vec<String>,
    pub components: Vec<String>,
    pub classes: Vec<String>,
    /// The keys (not the values, which change every time) of its alerts' custom details.
    pub detail_keys: Vec<String>,
    pub service: String,
}

/// One past incident found like the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub id: String,
    /// 0..=1: the share of what the query would score against itself.
    pub similarity: f32,
}

/// The similarity from which a past incident counts as "similar" (how many similar incidents
/// there were). Chosen on the labelled fixtures (benches/related_incidents.rs): of the matches
/// at or above 0.25, 93% share the query's cause, and they are half of all pairs that do; at
/// 0.20 it is 82% and 60%, at 0.30 97% and 40%. A count should be believed, so precision first.
pub const SIMILAR: f32 = 0.25;

// How much one occurrence of a word counts, by field. The title is what a person (or the first
// alert) says the incident is; summaries, class and component say what failed and where, and
// count alike: across languages they are often all that two incidents of one cause share
// (`postgres`, `disk_usage`). Source and detail keys name a host or a monitor more than a
// cause, and the service is a hint only (the same cause shows up on several services; see
// `search`). Measured on the fixtures and on three other seeds of their generator: weights
// within about ±50% of these move precision@3 by ±0.02.
const TITLE: f32 = 3.0;
const SUMMARY: f32 = 2.0;
const CLASS: f32 = 2.0;
const COMPONENT: f32 = 2.0;
const SOURCE: f32 = 1.0;
const DETAIL_KEY: f32 = 1.0;
const SERVICE: f32 = 1.0;

/// BM25's term-frequency saturation and length normalisation.
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// At most this many different summaries of one incident are read: an incident of a thousand
/// alerts says no more about its cause than one of ten, and should not be longer for it.
const MAX_SUMMARIES: usize = 16;

/// Starts the one term of a document's service; no word starts with a control character.
const SERVICE_PREFIX: &str = "\u{1}service:";

type TermId = u32;
type Slot = u32;

#[derive(Debug, Clone, Copy)]
struct Posting {
    slot: Slot,
    /// The word's weighted count in that incident.
    weight: f32,
}

#[derive(Debug)]
struct Entry {
    id: String,
    terms: Box<[TermId]>,
}

/// The index of past incidents. `Send + Sync`: many searches may share it behind a lock.
#[derive(Debug, Default)]
pub struct Index {
    /// Every word ever inserted keeps its id (its postings may be empty): the vocabulary of
    /// incidents is small, since volatile parts are dropped before they get here.
    term_ids: HashMap<String, TermId>,
    /// By term id.
    postings: Vec<Vec<Posting>>,
    /// By slot; `None` is a free slot (listed in `free`).
    entries: Vec<Option<Entry>>,
    /// By slot: each incident's weighted length (0 for a free slot).
    lengths: Vec<f32>,
    free: Vec<Slot>,
    slots: HashMap<String, Slot>,
    total_length: f64,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Adds (or replaces) incident `id`.
    pub fn insert(&mut self, id: &str, doc: &Document) {
        self.remove(id);
        let bag = terms(doc);
        let length: f32 = bag.values().sum();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(None);
                self.lengths.push(0.0);
                (self.entries.len() - 1) as Slot
            }
        };
        let mut ids = Vec::with_capacity(bag.len());
        for (term, weight) in bag {
            let next = self.term_ids.len() as TermId;
            let term_id = *self.term_ids.entry(term).or_insert(next);
            if term_id == next {
                self.postings.push(Vec::new());
            }
            self.postings[term_id as usize].push(Posting { slot, weight });
            ids.push(term_id);
        }
        self.entries[slot as usize] = Some(Entry {
            id: id.to_string(),
            terms: ids.into_boxed_slice(),
        });
        self.lengths[slot as usize] = length;
        self.total_length += f64::from(length);
        self.slots.insert(id.to_string(), slot);
    }

    /// Takes incident `id` out; nothing happens if it is not in.
    pub fn remove(&mut self, id: &str) {
        let Some(slot) = self.slots.remove(id) else {
            return;
        };
        let entry = self.entries[slot as usize]
            .take()
            .expect("a slot named in `slots` holds an entry");
        for &term in entry.terms.iter() {
            let postings = &mut self.postings[term as usize];
            if let Some(at) = postings.iter().position(|p| p.slot == slot) {
                postings.swap_remove(at);
            }
        }
        self.total_length -= f64::from(self.lengths[slot as usize]);
        self.lengths[slot as usize] = 0.0;
        self.free.push(slot);
        if self.slots.is_empty() {
            // Sums of floats drift; an empty index starts again from exactly nothing.
            self.total_length = 0.0;
        }
    }

    /// How many incidents are in.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The past incidents most like `query`, best first, at most `limit`, never `exclude` (the
    /// query's own incident), and only those that share at least one word with it.
    pub fn search(&self, query: &Document, limit: usize, exclude: Option<&str>) -> Vec<Match> {
        let count = self.len();
        if count == 0 || limit == 0 {
            return Vec::new();
        }
        let limit = limit.min(count);
        let average = (self.total_length / count as f64) as f32;
        let bag = terms(query);
        let query_length: f32 = bag.values().sum();
        let saturate = |weight: f32, length: f32| {
            weight * (K1 + 1.0) / (weight + K1 * (1.0 - B + B * length / average))
        };

        let mut scores = vec![0.0f32; self.entries.len()];
        let mut best = 0.0f32;
        // The service last: it adds to incidents that share a word, and finds none by itself.
        let (service, words): (Vec<_>, Vec<_>) = bag
            .iter()
            .partition(|(term, _)| term.starts_with(SERVICE_PREFIX));
        for (bonus, (term, weight)) in words
            .into_iter()
            .map(|t| (false, t))
            .chain(service.into_iter().map(|t| (true, t)))
        {
            let postings = self
                .term_ids
                .get(term)
                .map_or(&[][..], |&t| &self.postings[t as usize][..]);
            let idf = idf(count, postings.len());
            let query_weight = idf * saturate(*weight, query_length);
            // What this word would add if the query were in the index itself.
            best += query_weight * saturate(*weight, query_length);
            for posting in postings {
                let slot = posting.slot as usize;
                if bonus && scores[slot] == 0.0 {
                    continue;
                }
                scores[slot] += query_weight * saturate(posting.weight, self.lengths[slot]);
            }
        }
        if best <= 0.0 {
            return Vec::new();
        }
        if let Some(slot) = exclude.and_then(|id| self.slots.get(id)) {
            scores[*slot as usize] = 0.0;
        }

        // The `limit` best slots, by a bounded selection rather than a sort of them all.
        let mut found: Vec<(f32, Slot)> = Vec::with_capacity(limit + 1);
        let mut floor = 0.0f32;
        for (slot, &score) in scores.iter().enumerate() {
            if score <= floor {
                continue;
            }
            found.push((score, slot as Slot));
            if found.len() > limit * 4 {
                found.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                found.truncate(limit);
                floor = found[limit - 1].0;
            }
        }
        let mut found: Vec<Match> = found
            .into_iter()
            .map(|(score, slot)| Match {
                id: self.entries[slot as usize]
                    .as_ref()
                    .expect("only live slots score")
                    .id
                    .clone(),
                similarity: (score / best).min(1.0),
            })
            .collect();
        found.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.id.cmp(&b.id))
        });
        found.truncate(limit);
        found
    }
}

/// BM25's inverse document frequency (the "+1" form, never negative): a word every incident
/// has is worth almost nothing, one no other incident has is worth most.
fn idf(count: usize, with_term: usize) -> f32 {
    let (n, df) = (count as f32, with_term as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// A document's words with their weighted counts.
fn terms(doc: &Document) -> HashMap<String, f32> {
    let mut bag: HashMap<String, f32> = HashMap::new();
    let add = |text: &str, weight: f32, bag: &mut HashMap<String, f32>| {
        words(text, &mut |word| *bag.entry(word).or_insert(0.0) += weight);
    };
    add(&doc.title, TITLE, &mut bag);
    for (values, weight, max) in [
        (&doc.summaries, SUMMARY, MAX_SUMMARIES),
        (&doc.sources, SOURCE, usize::MAX),
        (&doc.components, COMPONENT, usize::MAX),
        (&doc.classes, CLASS, usize::MAX),
        (&doc.detail_keys, DETAIL_KEY, usize::MAX),
    ] {
        let mut seen = HashSet::new();
        for value in values.iter().filter(|v| seen.insert(v.as_str())).take(max) {
            add(value, weight, &mut bag);
        }
    }
    if !doc.service.is_empty() {
        // Not split into words: it is a name, and only the same service is a hint.
        bag.insert(format!("{SERVICE_PREFIX}{}", doc.service), SERVICE);
    }
    bag
}

static STEMMER: LazyLock<rust_stemmers::Stemmer> =
    LazyLock::new(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));

/// Calls `emit` with each word of `text` worth matching on, normalised (see the module doc).
fn words(text: &str, emit: &mut dyn FnMut(String)) {
    let normal;
    let text = if text.is_ascii() {
        text
    } else {
        normal = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(text);
        &normal
    };
    let mut latin = String::new();
    let mut cjk: Vec<char> = Vec::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_cjk(c) {
            latin_word(&latin, emit);
            latin.clear();
            cjk.push(c);
        } else {
            if !cjk.is_empty() {
                cjk_words(&cjk, emit);
                cjk.clear();
            }
            if c.is_alphanumeric() {
                latin.push(c);
            } else {
                latin_word(&latin, emit);
                latin.clear();
            }
        }
    }
}

/// Kana, han and the marks that belong to them (`ー`, `々`).
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3005}' | '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}'
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// A run of kana and han as overlapping pairs of characters (one character alone as itself).
/// Hiragana is left out, and pairs do not straddle it: in incident text it is mostly particles
/// and endings (`の`, `が`, `しています`) between the words that carry the meaning, in kanji
/// and katakana.
fn cjk_words(run: &[char], emit: &mut dyn FnMut(String)) {
    for word in run.split(|c| is_hiragana(*c)).filter(|w| !w.is_empty()) {
        if word.len() == 1 {
            emit(word[0].to_string());
        }
        for pair in word.windows(2) {
            emit(pair.iter().collect());
        }
    }
}

fn is_hiragana(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{309F}')
}

/// One run of letters and digits: split at camel-case humps, each part normalised.
fn latin_word(run: &str, emit: &mut dyn FnMut(String)) {
    if run.is_empty() {
        return;
    }
    let chars: Vec<char> = run.chars().collect();
    let mut start = 0;
    for i in 1..chars.len() {
        let (before, c) = (chars[i - 1], chars[i]);
        // `fooBar` splits before `B`; `OOMKilled` before `K` (the last capital of a run of
        // capitals starts the next word).
        let hump = (before.is_lowercase() && c.is_uppercase())
            || (before.is_uppercase()
                && c.is_uppercase()
                && chars.get(i + 1).is_some_and(|next| next.is_lowercase()));
        if hump {
            part(&chars[start..i], emit);
            start = i;
        }
    }
    part(&chars[start..], emit);
}

fn part(chars: &[char], emit: &mut dyn FnMut(String)) {
    let word: String = chars.iter().flat_map(|c| c.to_lowercase()).collect();
    let digits = word.chars().filter(char::is_ascii_digit).count();
    if digits == word.chars().count() {
        // A number is a count, a size, a percentage or a host's number, which change from one
        // incident of a cause to the next, except a three-digit one from 100 to 599: an HTTP
        // status (or an exit code like 137), which names the failure.
        if digits == 3 && matches!(word.as_bytes()[0], b'1'..=b'5') {
            emit(word);
        }
        return;
    }
    // A host's number when it is zero-padded (`db01`, `web007`): padding marks a counter, where
    // `x509`, `sha256`, `ec2` and `ipv4` are names.
    let trailing = word.chars().rev().take_while(char::is_ascii_digit).count();
    let word =
        if trailing >= 2 && word.len() > trailing && word.as_bytes()[word.len() - trailing] == b'0'
        {
            &word[..word.len() - trailing]
        } else {
            &word[..]
        };
    // Ids and hashes: digits in more than one place (`9f2c1e0`, a pod's `x2k9z`), or hex
    // digits only (a UUID's `a716`).
    let digit_runs = word
        .as_bytes()
        .windows(2)
        .filter(|w| !w[0].is_ascii_digit() && w[1].is_ascii_digit())
        .count()
        + usize::from(word.as_bytes()[0].is_ascii_digit());
    let hex = word.len() >= 4 && word.chars().all(|c| c.is_ascii_hexdigit()) && digit_runs > 0;
    if digit_runs > 1 || hex || word.chars().count() < 2 {
        return;
    }
    emit(STEMMER.stem(word).into_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        words(text, &mut |w| out.push(w));
        out
    }

    fn doc(title: &str, summary: &str, component: &str) -> Document {
        Document {
            title: title.into(),
            summaries: vec![summary.into()],
            components: vec![component.into()],
            service: "checkout".into(),
            ..Document::default()
        }
    }

    #[test]
    fn english_words_are_split_lowered_and_stemmed_without_volatile_parts() {
        assert_eq!(
            words_of("Pod api-7f9c4d8b6-x2k9z OOMKilled on web-042 (10.0.3.17)"),
            ["pod", "api", "oom", "kill", "on", "web"]
        );
        assert_eq!(
            words_of("Certificates EXPIRED; db01 HTTP 503 after 12 retries, ec2 s3"),
            [
                "certif", "expir", "db", "http", "503", "after", "retri", "ec2", "s3"
            ]
        );
        // A UUID, a commit hash and a percentage leave nothing.
        assert!(words_of("550e8400-e29b-41d4-a716-446655440000 9f2c1e0 97%").is_empty());
        assert_eq!(
            words_of("CrashLoopBackOff"),
            ["crash", "loop", "back", "off"]
        );
    }

    #[test]
    fn japanese_becomes_character_pairs() {
        // Hiragana (particles, endings) is left out and pairs do not straddle it.
        assert_eq!(
            words_of("証明書の期限が切れています"),
            ["証明", "明書", "期限", "切"]
        );
        assert_eq!(
            words_of("タイムアウト"),
            ["タイ", "イム", "ムア", "アウ", "ウト"]
        );
        // Latin inside Japanese is a word of its own; one character alone is itself.
        assert_eq!(words_of("DNS解決 枯"), ["dns", "解決", "枯"]);
        // Half-width katakana and full-width letters are the usual ones.
        assert_eq!(words_of("ﾃﾞｨｽｸ"), words_of("ディスク"));
        assert_eq!(words_of("ＤＮＳ"), ["dns"]);
    }

    #[test]
    fn the_closest_incident_comes_first_and_the_query_itself_scores_one() {
        let mut index = Index::new();
        let disk = doc(
            "Disk full on db-prod-03",
            "No space left on device",
            "postgres",
        );
        index.insert("disk", &disk);
        index.insert(
            "disk-again",
            &doc(
                "Disk almost full on db-prod-07",
                "no space left",
                "postgres",
            ),
        );
        index.insert(
            "cert",
            &doc("TLS certificate expired", "x509 expired", "ingress"),
        );
        index.insert(
            "lag",
            &doc(
                "Replication lag on db-replica-01",
                "replica behind",
                "postgres",
            ),
        );

        let found = index.search(&disk, 10, None);
        assert_eq!(found[0].id, "disk");
        assert!((found[0].similarity - 1.0).abs() < 1e-4, "{found:?}");
        assert_eq!(found[1].id, "disk-again");
        assert!(found.iter().all(|m| (0.0..=1.0).contains(&m.similarity)));
        assert!(found.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        // Replication lag shares "postgres" and "db" (and the service, a bonus on top); the
        // certificate shares only the service, which finds nothing by itself.
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[2].id, "lag");
        assert!(found[2].similarity < found[1].similarity / 2.0, "{found:?}");

        let found = index.search(&disk, 1, Some("disk"));
        assert_eq!(
            found.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["disk-again"]
        );
        assert!(index.search(&disk, 0, None).is_empty());
        assert_eq!(index.search(&disk, usize::MAX, None).len(), 3);
    }

    #[test]
    fn an_incident_that_shares_no_word_is_not_found() {
        let mut index = Index::new();
        index.insert("a", &doc("Disk full", "", ""));
        assert!(index.search(&doc("証明書", "", ""), 10, None).is_empty());
        assert!(
            Index::new()
                .search(&doc("Disk full", "", ""), 10, None)
                .is_empty()
        );
    }

    #[test]
    fn insert_replaces_and_remove_takes_out() {
        let mut index = Index::new();
        index.insert("a", &doc("Disk full", "", ""));
        index.insert("b", &doc("Disk latency", "", ""));
        assert_eq!(index.len(), 2);
        index.insert("a", &doc("Certificate expired", "", ""));
        assert_eq!(index.len(), 2);
        let ids = |index: &Index, title: &str| -> Vec<String> {
            index
                .search(&doc(title, "", ""), 10, None)
                .into_iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(ids(&index, "disk"), ["b"]);
        assert_eq!(ids(&index, "certificate"), ["a"]);
        index.remove("b");
        index.remove("never-there");
        assert_eq!(index.len(), 1);
        assert!(ids(&index, "disk").is_empty());
        index.remove("a");
        assert!(index.is_empty());
        assert!(ids(&index, "certificate").is_empty());
        // A freed slot is used again.
        index.insert("c", &doc("Disk full", "", ""));
        assert_eq!(ids(&index, "disk"), ["c"]);
    }

    #[test]
    fn an_index_after_removals_ranks_as_one_built_without_them() {
        let docs = [
            (
                "1",
                doc(
                    "Disk full on db-prod-03",
                    "No space left on device",
                    "postgres",
                ),
            ),
            (
                "2",
                doc("Replication lag 30s", "replica behind primary", "postgres"),
            ),
            (
                "3",
                doc("TLS証明書の期限切れ", "証明書の更新に失敗", "cert-manager"),
            ),
            (
                "4",
                doc(
                    "Disk usage 95% on db-prod-07",
                    "filesystem full",
                    "postgres",
                ),
            ),
            (
                "5",
                doc("SSL certificate expired", "x509 expired", "cert-manager"),
            ),
            (
                "6",
                doc("データベースのディスク容量不足", "書き込み失敗", "postgres"),
            ),
        ];
        let mut churned = Index::new();
        for (id, d) in &docs {
            churned.insert(id, d);
        }
        churned.insert("x", &doc("Disk full everywhere", "", "postgres"));
        churned.remove("2");
        churned.remove("x");
        churned.remove("5");
        churned.insert("5", &docs[4].1);
        churned.insert("2", &docs[1].1);

        let mut fresh = Index::new();
        for (id, d) in &docs {
            fresh.insert(id, d);
        }
        for (_, query) in &docs {
            let (a, b) = (
                churned.search(query, 10, None),
                fresh.search(query, 10, None),
            );
            assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(&b) {
                assert_eq!(a.id, b.id);
                assert!((a.similarity - b.similarity).abs() < 1e-4, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_index_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Index>();
    }

    #[test]
    fn repeated_summaries_count_once() {
        let once = doc("Queue backlog", "consumer lag rising", "kafka");
        let mut many = once.clone();
        many.summaries = vec!["consumer lag rising".into(); 50];
        assert_eq!(terms(&once), terms(&many));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        const WORDS: [&str; 10] = [
            "disk",
            "full",
            "postgres",
            "timeout",
            "certificate",
            "expired",
            "ディスク",
            "証明書",
            "lag",
            "queue",
        ];

        fn document() -> impl Strategy<Value = Document> {
            (
                prop::collection::vec(prop::sample::select(&WORDS[..]), 0..5),
                prop::collection::vec(prop::sample::select(&WORDS[..]), 0..3),
                prop::sample::select(&["checkout", "search"][..]),
            )
                .prop_map(|(title, component, service)| Document {
                    title: title.join(" "),
                    components: component.into_iter().map(String::from).collect(),
                    service: service.into(),
                    ..Document::default()
                })
        }

        /// Insert (Some) or remove (None) one of eight incidents.
        fn operations() -> impl Strategy<Value = Vec<(u8, Option<Document>)>> {
            prop::collection::vec((0..8u8, prop::option::of(document())), 0..40)
        }

        proptest! {
            #[test]
            fn after_any_inserts_and_removals_the_index_finds_what_a_fresh_one_finds(
                operations in operations(),
                query in document(),
                limit in 0..10usize,
            ) {
                let mut churned = Index::new();
                let mut kept = BTreeMap::new();
                for (id, doc) in operations {
                    let id = id.to_string();
                    match doc {
                        Some(doc) => {
                            churned.insert(&id, &doc);
                            kept.insert(id, doc);
                        }
                        None => {
                            churned.remove(&id);
                            kept.remove(&id);
                        }
                    }
                }
                let mut fresh = Index::new();
                for (id, doc) in &kept {
                    fresh.insert(id, doc);
                }
                prop_assert_eq!(churned.len(), kept.len());

                let all = |index: &Index| -> BTreeMap<String, f32> {
                    index
                        .search(&query, 100, None)
                        .into_iter()
                        .map(|m| (m.id, m.similarity))
                        .collect()
                };
                let (a, b) = (all(&churned), all(&fresh));
                prop_assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
                for (id, similarity) in &a {
                    prop_assert!((similarity - b[id]).abs() < 1e-3, "{id}: {a:?} {b:?}");
                }

                let found = churned.search(&query, limit, Some("3"));
                prop_assert!(found.len() <= limit);
                prop_assert!(found.iter().all(|m| m.id != "3"));
                prop_assert!(found.iter().all(|m| m.similarity > 0.0 && m.similarity <= 1.0));
                prop_assert!(found.windows(2).all(|w| w[0].similarity >= w[1].similarity));
            }
        }
    }
}
