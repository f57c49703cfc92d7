//! Property tests for the pure core: invariants that must hold for any input.

use proptest::prelude::*;
use rota::domain::audit::{Cursor, changed_fields};
use rota::domain::paging::PageRequest;
use rota::domain::retry;
use rota::domain::token::{CredentialError, secret_from_header};
use serde_json::{Map, Value};

fn flat_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-e]",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
            Just(Value::Null)
        ],
        0..5,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

proptest! {
    #[test]
    fn header_parsing_never_panics_and_only_returns_part_of_the_header(header in ".{0,80}") {
        match secret_from_header(Some(&header)) {
            Ok(secret) => {
                prop_assert!(header.contains(secret));
                prop_assert!(!secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic()));
            }
            Err(CredentialError::Missing) => prop_assert!(header.trim().is_empty()),
            Err(CredentialError::Malformed) => {}
        }
    }

    #[test]
    fn any_well_formed_secret_is_read_back_from_both_header_styles(secret in "[A-Za-z0-9_]{1,100}") {
        let token_header = format!("Token token={secret}");
        let bearer_header = format!("Bearer {secret}");
        prop_assert_eq!(secret_from_header(Some(&token_header)), Ok(secret.as_str()));
        prop_assert_eq!(secret_from_header(Some(&bearer_header)), Ok(secret.as_str()));
    }

    #[test]
    fn a_record_compared_with_itself_has_no_changes(v in flat_object()) {
        prop_assert!(changed_fields(Some(&v), Some(&v)).is_empty());
    }

    #[test]
    fn changes_are_the_same_fields_in_either_direction(a in flat_object(), b in flat_object()) {
        let forward: Vec<_> = changed_fields(Some(&a), Some(&b)).into_iter().map(|c| c.name).collect();
        let backward: Vec<_> = changed_fields(Some(&b), Some(&a)).into_iter().map(|c| c.name).collect();
        prop_assert_eq!(forward, backward);
        for change in changed_fields(Some(&a), Some(&b)) {
            prop_assert_eq!(b.get(&change.name).cloned().unwrap_or(Value::Null), change.value);
        }
    }

    #[test]
    fn cursors_round_trip_and_decoding_never_panics(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999, id in "[0-9a-f-]{1,40}", garbage in ".{0,40}") {
        let cursor = Cursor { micros, id };
        prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let _ = Cursor::decode(&garbage);
    }

    #[test]
    fn a_page_never_holds_more_than_its_limit(offset in 0i64..1000, limit in 1i64..500, rows in 0usize..300) {
        let page = PageRequest::new(Some(offset), Some(limit), false).unwrap();
        prop_assert!(page.limit <= 100);
        let (kept, more) = page.finish((0..rows).collect::<Vec<_>>());
        prop_assert!(kept.len() as i64 <= page.limit);
        prop_assert_eq!(more, rows as i64 > page.limit);
    }

    #[test]
    fn retry_delays_never_shrink_and_stay_between_thirty_seconds_and_an_hour(attempts in -5i32..1_000) {
        let delay = retry::delay_after(attempts);
        prop_assert!(delay >= chrono::Duration::seconds(30) && delay <= chrono::Duration::hours(1));
        prop_assert!(retry::delay_after(attempts + 1) >= delay);
        prop_assert_eq!(retry::next_attempt(attempts, chrono::DateTime::UNIX_EPOCH).is_none(), attempts >= retry::MAX_ATTEMPTS);
    }
}
